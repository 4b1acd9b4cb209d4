// Package keepnet is a caddy-scim backend modelled on a security-awareness
// product's SCIM integration. It keeps a product store of target users,
// keyed by email, and target groups:
//
//   - every user gets first name, last name, department, phone number and
//     an active flag, plus custom fields filled from any SCIM attribute
//     path by the field_map setting;
//   - every user joins one target group, the default one (target_group) or,
//     with group_by, the group named by their department or a mapped custom
//     field; a user whose value changes moves, and a group-by group left
//     empty is removed;
//   - with mirror_groups, SCIM groups become target groups with their
//     members.
//
// The store is Badger, in the data directory the host hands to Configure.
// Each change's effect and its Seq are written together, so a change the
// host sends again, even after a restart, changes nothing.
package keepnet
