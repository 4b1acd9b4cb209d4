package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Cursor pagination (RFC 9865). A cursor names a position in the id order
// of a list: the resource type (an index into the types a request lists,
// for a search at the root) and the id the page starts after, or for a
// previousCursor the id it ends before. Because it names an id rather than
// an offset, resources created or deleted between pages never make a
// client see a resource twice or miss one that still exists.
//
// A cursor is opaque to clients: base64url of
//
//	version(1) flags(1) type(1) expiry(8, Unix seconds, big-endian)
//	query(8) id(rest) mac(16)
//
// where query is a hash of the endpoint and the canonical filter, and mac
// is HMAC-SHA256 under Config.CursorKey over the tenant and everything
// before it, truncated to 16 bytes. The MAC makes a cursor tamper-evident
// and binds it to its tenant; the query hash binds it to its endpoint and
// filter; the expiry limits it to Config.CursorTTL.

// Error types of cursor pagination (RFC 9865).
const (
	scimInvalidCursor = "invalidCursor"
	scimExpiredCursor = "expiredCursor"
)

const (
	cursorVersion  = 1
	cursorBackward = 1 << 0
	cursorHeader   = 1 + 1 + 1 + 8 + 8
	cursorMACSize  = 16
	// cursorMaxLen bounds the cursor text accepted from a client.
	cursorMaxLen = 512
)

// cursor is a decoded position.
type cursor struct {
	// typ is the index of the resource type among those listed.
	typ int
	// id is the id the page starts after, or with backward ends before;
	// empty for the start of the list.
	id string
	// backward marks a previousCursor.
	backward bool
}

// queryHash identifies the endpoint and filter a cursor was issued for.
func queryHash(scope, filter string) [8]byte {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(filter))
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (q *request) cursorMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, q.cfg.CursorKey)
	m.Write([]byte("scim-cursor\x00"))
	m.Write([]byte(q.tenant))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:cursorMACSize]
}

// encodeCursor issues a cursor for c, valid for Config.CursorTTL from now.
func (q *request) encodeCursor(c cursor, query [8]byte) string {
	b := make([]byte, 0, cursorHeader+len(c.id)+cursorMACSize)
	var flags byte
	if c.backward {
		flags |= cursorBackward
	}
	b = append(b, cursorVersion, flags, byte(c.typ))
	b = binary.BigEndian.AppendUint64(b, uint64(q.cfg.Now().Add(q.cfg.CursorTTL).Unix()))
	b = append(b, query[:]...)
	b = append(b, c.id...)
	b = append(b, q.cursorMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks and decodes a cursor a client sent back
// (RFC 9865): 400 invalidCursor when it is malformed, altered, or was
// issued for another tenant, endpoint or filter, and 400 expiredCursor when
// it is older than Config.CursorTTL. types is how many resource types the
// request lists.
func (q *request) decodeCursor(s string, query [8]byte, types int) (cursor, error) {
	invalid := scimerr.BadRequest(scimInvalidCursor,
		"the cursor is not one this service provider issued, or it was altered; use a nextCursor or previousCursor value exactly as received, or start again with an empty cursor")
	if len(s) > cursorMaxLen {
		return cursor{}, invalid
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < cursorHeader+cursorMACSize {
		return cursor{}, invalid
	}
	payload, mac := b[:len(b)-cursorMACSize], b[len(b)-cursorMACSize:]
	if !hmac.Equal(mac, q.cursorMAC(payload)) || payload[0] != cursorVersion {
		return cursor{}, invalid
	}
	c := cursor{typ: int(payload[2]), id: string(payload[cursorHeader:]), backward: payload[1]&cursorBackward != 0}
	if c.typ >= types || [8]byte(payload[11:19]) != query {
		return cursor{}, scimerr.BadRequest(scimInvalidCursor,
			"the cursor was issued for a different endpoint or filter; send the same filter on every page, or start again with an empty cursor")
	}
	expiry := time.Unix(int64(binary.BigEndian.Uint64(payload[3:11])), 0)
	if !q.cfg.Now().Before(expiry) {
		return cursor{}, scimerr.BadRequest(scimExpiredCursor,
			"the cursor has expired (cursors are valid for %s); start again with an empty cursor", q.cfg.CursorTTL)
	}
	return c, nil
}
