package store

import "errors"

// ErrLeaseLost says another process holds the tenant's delivery lease.
// When several processes deliver from one store, each tenant's journal is
// delivered by the one holding the tenant's lease; a store that knows about
// leases refuses SaveDeliveryState and SaveDeadLetter from any other
// process with an error wrapping ErrLeaseLost, and writes nothing, so that
// a process that lost its lease (it stalled past the lease's lifetime, say)
// cannot overwrite what the new holder records. The refused process stops
// delivering the tenant until it holds the lease again.
var ErrLeaseLost = errors.New("another process holds the delivery lease")
