package pharos

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/internal/applybench"
)

// BenchmarkApply measures changes/s into the product store on disk, every
// commit synced, in the host's batches of 100.
func BenchmarkApply(b *testing.B) { applybench.Run(b, New().(applybench.Backend), "") }
