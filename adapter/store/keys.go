package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Key layout. Every key starts with the layout version and a one-byte
// prefix from the registry below, then the tenant as a length-prefixed
// string, so each tenant has a key space of its own and a tenant's data can
// be found, counted or dropped with one prefix scan. Variable-length parts
// are length-prefixed (uvarint), never terminated, so a value that contains
// any byte cannot be confused with a neighbouring key.
//
// A prefix, once retired, stays reserved: never reuse one for a new meaning.
const keyVersion byte = 1

// Key prefixes.
const (
	// pResource: v p tenant type id → record (JSON of the resource, without
	// members). type is a resource type byte (tUser, tGroup).
	pResource byte = 'r'
	// pUnique: v p tenant type attr folded-value → id. Enforces server-wide
	// uniqueness case-insensitively (userName, group displayName).
	pUnique byte = 'u'
	// pIndex: v p tenant type attr value id → empty. Non-unique equality
	// index (externalId, emails.value, user displayName).
	pIndex byte = 'x'
	// pMember: v p tenant group-id member-id → member type byte. One key
	// per membership edge.
	pMember byte = 'm'
	// pMemberOf: v p tenant member-id group-id → empty. The reverse edge,
	// for User.groups.
	pMemberOf byte = 'b'
	// pJournal: v p tenant seq(8 bytes, big-endian) → change event JSON.
	pJournal byte = 'j'
	// pCount: v p tenant type → resource count (uvarint).
	pCount byte = 'c'
	// pCleanup: v p tenant group-id → empty. A deleted group whose member
	// edges are still being removed in batches.
	pCleanup byte = 'g'
	// pToken: v p "" sha256 → token record JSON. Global (empty tenant):
	// a presented token is looked up by its hash before its tenant is
	// known.
	pToken byte = 't'
	// pTenantToken: v p tenant sha256 → empty. Lists a tenant's tokens.
	pTenantToken byte = 'k'
	// pAccess: v p tenant → access state JSON (last request, last change).
	pAccess byte = 'a'
	// pDelivery: v p tenant → delivery state JSON: the journal cursor (the
	// last sequence handed to the backend) and the delivery counters.
	pDelivery byte = 'd'
	// pDeadLetter: v p tenant seq(8 bytes, big-endian) → dead letter JSON
	// (the journal event, its error, attempts, time). The sequence is the
	// event's original journal sequence.
	pDeadLetter byte = 'l'
	// pClient: v p tenant → OAuth client record JSON (client id, secret
	// hashes, creation and last-use times). One client per tenant.
	pClient byte = 'o'
	// pAccessToken: v p "" sha256 → OAuth access token record JSON.
	// Global (empty tenant), like pToken: a presented access token is
	// looked up by its hash. Written with a TTL so expired records go.
	pAccessToken byte = 'e'
	// pCollision: v p tenant type attr folded-value id → empty. A resource
	// whose unique attribute (userName, group displayName) folds to the
	// same key as another's under the current identifier rule, found when
	// the index was rebuilt for a new rule (see migrate.go). The pUnique
	// key stays with the resource that held the name first; each later
	// one is listed here, kept and reported, never deleted.
	pCollision byte = 'y'
	// pMeta: v p "" name → value. Store-wide settings of the layout, such
	// as the version of the identifier rule the indexes were built with.
	pMeta byte = 'z'
	// pTenant: v p "" name → runtime tenant record JSON (see package
	// tenants). Global (empty tenant): the list of runtime tenants is read
	// before any tenant is known.
	pTenant byte = 'n'
	// pSeqFloor: v p tenant → the last journal sequence (8 bytes,
	// big-endian) of a purged tenant. It survives the purge, with the
	// delivery cursor set to it: a tenant created again under the name
	// continues after it, so no sequence number is used twice for a name
	// and a backend that skips what it has applied by sequence never
	// skips a new tenant's changes.
	pSeqFloor byte = 's'
)

// tenantPrefixes are the prefixes whose keys all belong to the tenant
// named in them: purging a tenant deletes each of them under its name.
// Global prefixes (pToken, pAccessToken, pMeta, pTenant) are not listed.
var tenantPrefixes = []byte{pResource, pUnique, pIndex, pMember, pMemberOf, pJournal, pCount,
	pCleanup, pTenantToken, pAccess, pDelivery, pDeadLetter, pClient, pCollision}

// Resource type bytes.
const (
	tUser  byte = 'U'
	tGroup byte = 'G'
)

// maxIndexedValue is the longest value stored verbatim in an index key;
// longer values are replaced by a marker byte and their SHA-256, which keeps
// keys small. Lookups always re-check the full filter on the candidates.
const maxIndexedValue = 256

type keyBuilder struct{ b []byte }

func newKey(prefix byte, tenant string) *keyBuilder {
	k := &keyBuilder{b: make([]byte, 0, 64)}
	k.b = append(k.b, keyVersion, prefix)
	return k.str(tenant)
}

func (k *keyBuilder) byte(c byte) *keyBuilder { k.b = append(k.b, c); return k }

func (k *keyBuilder) str(s string) *keyBuilder {
	k.b = binary.AppendUvarint(k.b, uint64(len(s)))
	k.b = append(k.b, s...)
	return k
}

func (k *keyBuilder) u64(n uint64) *keyBuilder {
	k.b = binary.BigEndian.AppendUint64(k.b, n)
	return k
}

func (k *keyBuilder) bytes() []byte { return k.b }

// indexValue returns the value as stored in an index key.
func indexValue(v string) string {
	if len(v) <= maxIndexedValue {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "\xff" + string(sum[:])
}

// resourceKey: v 'r' tenant type id.
func resourceKey(tenant string, typ byte, id string) []byte {
	return newKey(pResource, tenant).byte(typ).str(id).bytes()
}

// resourcePrefix is the prefix of all resources of one type in a tenant.
func resourcePrefix(tenant string, typ byte) []byte {
	return newKey(pResource, tenant).byte(typ).bytes()
}

// uniqueKey: v 'u' tenant type attr value.
func uniqueKey(tenant string, typ byte, attr, value string) []byte {
	return newKey(pUnique, tenant).byte(typ).str(attr).str(indexValue(value)).bytes()
}

// indexPrefix: v 'x' tenant type attr value — the prefix of every id
// indexed under that value.
func indexPrefix(tenant string, typ byte, attr, value string) []byte {
	return newKey(pIndex, tenant).byte(typ).str(attr).str(indexValue(value)).bytes()
}

// indexKey: v 'x' tenant type attr value id.
func indexKey(tenant string, typ byte, attr, value, id string) []byte {
	return append(indexPrefix(tenant, typ, attr, value), id...)
}

// memberPrefix: v 'm' tenant group — the prefix of a group's edges.
func memberPrefix(tenant, group string) []byte {
	return newKey(pMember, tenant).str(group).bytes()
}

// memberKey: v 'm' tenant group member.
func memberKey(tenant, group, member string) []byte {
	return append(memberPrefix(tenant, group), member...)
}

// memberOfPrefix: v 'b' tenant member — the prefix of a member's groups.
func memberOfPrefix(tenant, member string) []byte {
	return newKey(pMemberOf, tenant).str(member).bytes()
}

// memberOfKey: v 'b' tenant member group.
func memberOfKey(tenant, member, group string) []byte {
	return append(memberOfPrefix(tenant, member), group...)
}

// journalPrefix: v 'j' tenant.
func journalPrefix(tenant string) []byte { return newKey(pJournal, tenant).bytes() }

// journalKey: v 'j' tenant seq.
func journalKey(tenant string, seq uint64) []byte {
	return newKey(pJournal, tenant).u64(seq).bytes()
}

// countKey: v 'c' tenant type.
func countKey(tenant string, typ byte) []byte { return newKey(pCount, tenant).byte(typ).bytes() }

// cleanupKey: v 'g' tenant group.
func cleanupKey(tenant, group string) []byte { return newKey(pCleanup, tenant).str(group).bytes() }

// cleanupPrefix is the prefix of every pending cleanup, in all tenants.
func cleanupPrefix() []byte { return []byte{keyVersion, pCleanup} }

// tokenKey: v 't' "" hash.
func tokenKey(hash []byte) []byte { return append(newKey(pToken, "").bytes(), hash...) }

// tenantTokenPrefix: v 'k' tenant.
func tenantTokenPrefix(tenant string) []byte { return newKey(pTenantToken, tenant).bytes() }

// tenantTokenKey: v 'k' tenant hash.
func tenantTokenKey(tenant string, hash []byte) []byte {
	return append(tenantTokenPrefix(tenant), hash...)
}

// accessKey: v 'a' tenant.
func accessKey(tenant string) []byte { return newKey(pAccess, tenant).bytes() }

// deliveryKey: v 'd' tenant.
func deliveryKey(tenant string) []byte { return newKey(pDelivery, tenant).bytes() }

// seqFloorKey: v 's' tenant — where a purged tenant's sequence stopped.
func seqFloorKey(tenant string) []byte { return newKey(pSeqFloor, tenant).bytes() }

// deadLetterPrefix: v 'l' tenant — the prefix of a tenant's dead letters.
func deadLetterPrefix(tenant string) []byte { return newKey(pDeadLetter, tenant).bytes() }

// deadLetterKey: v 'l' tenant seq(8 bytes, big-endian), so a tenant's dead
// letters iterate in journal order.
func deadLetterKey(tenant string, seq uint64) []byte {
	return newKey(pDeadLetter, tenant).u64(seq).bytes()
}

// clientKey: v 'o' tenant.
func clientKey(tenant string) []byte { return newKey(pClient, tenant).bytes() }

// accessTokenKey: v 'e' "" hash.
func accessTokenKey(hash []byte) []byte { return append(newKey(pAccessToken, "").bytes(), hash...) }

// collisionPrefix: v 'y' tenant type attr value — the prefix of every
// resource listed as colliding under that folded value.
func collisionPrefix(tenant string, typ byte, attr, value string) []byte {
	return newKey(pCollision, tenant).byte(typ).str(attr).str(indexValue(value)).bytes()
}

// collisionKey: v 'y' tenant type attr value id.
func collisionKey(tenant string, typ byte, attr, value, id string) []byte {
	return append(collisionPrefix(tenant, typ, attr, value), id...)
}

// tenantCollisionPrefix: v 'y' tenant — every collision of one tenant.
func tenantCollisionPrefix(tenant string) []byte { return newKey(pCollision, tenant).bytes() }

// metaKey: v 'z' "" name.
func metaKey(name string) []byte { return newKey(pMeta, "").str(name).bytes() }

// tenantRecordKey: v 'n' "" name.
func tenantRecordKey(name string) []byte { return newKey(pTenant, "").str(name).bytes() }

// tenantRecordPrefix is the prefix of every runtime tenant record.
func tenantRecordPrefix() []byte { return newKey(pTenant, "").bytes() }

// parsedKey is the decoded form of a key, for the inverse of the
// constructors above.
type parsedKey struct {
	prefix byte
	tenant string
	typ    byte
	parts  []string
	seq    uint64
}

// parseKey decodes any key built by this file.
func parseKey(key []byte) (parsedKey, error) {
	var p parsedKey
	if len(key) < 2 || key[0] != keyVersion {
		return p, fmt.Errorf("key %x: unknown layout version", key)
	}
	p.prefix = key[1]
	rest := key[2:]
	var err error
	if p.tenant, rest, err = readStr(rest); err != nil {
		return p, err
	}
	switch p.prefix {
	case pResource, pCount:
		if len(rest) < 1 {
			return p, fmt.Errorf("key %x: missing type", key)
		}
		p.typ, rest = rest[0], rest[1:]
		if p.prefix == pResource {
			var id string
			if id, rest, err = readStr(rest); err != nil {
				return p, err
			}
			p.parts = []string{id}
		}
	case pUnique, pIndex, pCollision:
		if len(rest) < 1 {
			return p, fmt.Errorf("key %x: missing type", key)
		}
		p.typ, rest = rest[0], rest[1:]
		var attr, val string
		if attr, rest, err = readStr(rest); err != nil {
			return p, err
		}
		if val, rest, err = readStr(rest); err != nil {
			return p, err
		}
		p.parts = []string{attr, val}
		if p.prefix == pIndex || p.prefix == pCollision {
			p.parts = append(p.parts, string(rest))
			rest = nil
		}
	case pMember, pMemberOf:
		var a string
		if a, rest, err = readStr(rest); err != nil {
			return p, err
		}
		p.parts, rest = []string{a, string(rest)}, nil
	case pJournal, pDeadLetter:
		if len(rest) != 8 {
			return p, fmt.Errorf("key %x: bad sequence", key)
		}
		p.seq, rest = binary.BigEndian.Uint64(rest), nil
	case pToken, pTenantToken, pAccessToken:
		p.parts, rest = []string{string(rest)}, nil
	case pAccess, pDelivery, pClient, pSeqFloor:
	case pMeta, pTenant:
		var name string
		if name, rest, err = readStr(rest); err != nil {
			return p, err
		}
		p.parts = []string{name}
	case pCleanup:
		var g string
		if g, rest, err = readStr(rest); err != nil {
			return p, err
		}
		p.parts = []string{g}
	default:
		return p, fmt.Errorf("key %x: unknown prefix %q", key, p.prefix)
	}
	if len(rest) != 0 {
		return p, fmt.Errorf("key %x: %d trailing bytes", key, len(rest))
	}
	return p, nil
}

func readStr(b []byte) (string, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, fmt.Errorf("key: bad length-prefixed string")
	}
	return string(b[w : w+int(n)]), b[w+int(n):], nil
}
