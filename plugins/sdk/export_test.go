package sdk

import "time"

// PerTenantAt is PerTenant with now as its clock.
func PerTenantAt(newBackend func(tenant string) Backend, opts PerTenantOptions, now func() time.Time) Backend {
	return newPerTenant(newBackend, opts, now)
}

// CloseIdle closes b's idle instances now, as its sweeper does on its
// tick; b is a Backend from PerTenant or PerTenantAt.
func CloseIdle(b Backend) { b.(*perTenant).closeIdle() }
