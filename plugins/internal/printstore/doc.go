// Package printstore is the product store shared by the print-management
// backends (pharos, hpinsights). Both products keep the same things —
// users under a product key, groups by name with their members, badge
// cards per user, cards retained from deleted users — and differ only in
// which SCIM attributes make the key and the profile, and in the names
// their Inspect JSON gives the key and the groups. A backend describes
// that difference in a Product and gets a Backend that applies changes,
// imports cards, takes snapshots and writes the Inspect JSON, over a
// Badger v4 database in the tenant's data directory.
//
// Every change is applied in one transaction together with its sequence
// number, so a change at or below the recorded sequence is skipped: Apply
// is idempotent across restarts. Membership edges are kept by SCIM id, so a
// rename of a user or a group moves one record and leaves its memberships
// and cards where they are; only snapshots translate ids into keys and
// names.
package printstore
