package badgerstore

import "testing"

// TestOptionsAreDurable: every store of the built-in backends syncs each
// commit, so AppliedThrough never covers a change a crash could undo.
func TestOptionsAreDurable(t *testing.T) {
	o := Options(t.TempDir())
	if !o.SyncWrites {
		t.Fatal("the product stores do not sync their commits")
	}
	if o.MemTableSize != MemTableSize || o.BlockCacheSize != BlockCacheSize || o.NumMemtables != NumMemtables {
		t.Fatalf("sizes: %d %d %d", o.MemTableSize, o.BlockCacheSize, o.NumMemtables)
	}
}
