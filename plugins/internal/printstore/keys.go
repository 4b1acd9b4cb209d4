package printstore

import (
	"encoding/binary"
	"errors"
	"strings"
)

// Key prefixes of the product store. Every key starts with one of these
// bytes. A retired prefix stays reserved, so old data is never misread.
const (
	// prefixMeta: store metadata; see metaLayoutKey and metaSeqKey.
	prefixMeta byte = 0x01
	// prefixUser: folded product key → userRecord (JSON).
	prefixUser byte = 0x02
	// prefixUserID: SCIM user id → folded product key.
	prefixUserID byte = 0x03
	// prefixGroup: folded group name → groupRecord (JSON).
	prefixGroup byte = 0x04
	// prefixGroupID: SCIM group id → folded group name.
	prefixGroupID byte = 0x05
	// prefixMember: one key per membership edge, by group; see edgeKey.
	prefixMember byte = 0x06
	// prefixMemberOf: the same edges by user; see edgeKey.
	prefixMemberOf byte = 0x07
	// prefixCard: folded card number → SCIM id of the user holding it.
	prefixCard byte = 0x08
	// prefixRetained: folded card number → retainedRecord (JSON) of a card
	// kept from a deleted user.
	prefixRetained byte = 0x09
)

// layoutVersion is the version of the key layout this package writes.
const layoutVersion byte = 1

var (
	// metaLayoutKey holds the layout version, one byte.
	metaLayoutKey = []byte{prefixMeta, 'l'}
	// metaSeqKey holds the last applied Seq, 8 bytes big-endian.
	metaSeqKey = []byte{prefixMeta, 's'}
)

// fold is the case folding of product keys, group names and cards: two
// values equal under it are the same key.
func fold(s string) string { return strings.ToLower(s) }

// simpleKey is prefix followed by s.
func simpleKey(prefix byte, s string) []byte {
	k := make([]byte, 0, 1+len(s))
	return append(append(k, prefix), s...)
}

// simpleKeyValue is the inverse of simpleKey.
func simpleKeyValue(k []byte) string { return string(k[1:]) }

// edgeKey is prefix, uvarint len(a), a, b. With prefixMember a is the
// group id and b the user id; with prefixMemberOf the other way round. The
// length makes every id a safe component, whatever bytes it holds, and
// edgePrefix(prefix, a) a prefix of exactly a's edges.
func edgeKey(prefix byte, a, b string) []byte {
	return append(edgePrefix(prefix, a), b...)
}

// edgePrefix is the common prefix of all edge keys of a.
func edgePrefix(prefix byte, a string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(a))
	k = append(k, prefix)
	k = binary.AppendUvarint(k, uint64(len(a)))
	return append(k, a...)
}

// errBadEdge reports an edge key that edgeKey did not make.
var errBadEdge = errors.New("malformed edge key")

// splitEdgeKey is the inverse of edgeKey.
func splitEdgeKey(k []byte) (prefix byte, a, b string, err error) {
	if len(k) < 2 {
		return 0, "", "", errBadEdge
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)-1-w) < n {
		return 0, "", "", errBadEdge
	}
	rest := k[1+w:]
	return k[0], string(rest[:n]), string(rest[n:]), nil
}

// u64 encodes a sequence number.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
