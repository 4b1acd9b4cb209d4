package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/requestlog"
)

// Interface guard: the console's list of latest requests is shared
// through the store's database.
var _ requestlog.Backing = (*Store)(nil)

// AppendRequests implements requestlog.Backing: the rows go in with one
// statement (a row already there is left as it is), then each of their
// tenants keeps its keep newest rows, and those as new as the keep-th.
// Instances trimming one tenant at once may deadlock each other; the
// one that loses leaves its trim to the next append.
func (s *Store) AppendRequests(ctx context.Context, rows []requestlog.Row, keep int) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	tenants, origins, ops, reasons, ips := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ns, durations, ats, statuses := make([]int64, n), make([]int64, n), make([]time.Time, n), make([]int32, n)
	var touched []string
	seen := map[string]bool{}
	for i, r := range rows {
		tenants[i], origins[i], ns[i], ats[i] = r.Tenant, r.Origin, int64(r.N), r.Entry.Time
		ops[i], statuses[i], reasons[i], ips[i], durations[i] = r.Entry.Operation, int32(r.Entry.Status), r.Entry.Reason, r.Entry.ClientIP, int64(r.Entry.Duration)
		if !seen[r.Tenant] {
			seen[r.Tenant] = true
			touched = append(touched, r.Tenant)
		}
	}
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO scim_requests (tenant, origin, n, at, operation, status, reason, client_ip, duration_ns)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[], $6::int[],
			$7::text[], $8::text[], $9::bigint[])
		ON CONFLICT DO NOTHING`,
		tenants, origins, ns, ats, ops, statuses, reasons, ips, durations); err != nil {
		return fmt.Errorf("keeping the latest requests: %w", err)
	}
	_, err := s.pool.Exec(ctx, `
		DELETE FROM scim_requests r
		WHERE r.tenant = ANY($1) AND r.at < (
			SELECT x.at FROM scim_requests x WHERE x.tenant = r.tenant
			ORDER BY x.at DESC OFFSET $2 LIMIT 1)`, touched, keep-1)
	if err != nil && !retryable(err) {
		return fmt.Errorf("dropping older requests: %w", err)
	}
	return nil
}

// LatestRequests implements requestlog.Backing.
func (s *Store) LatestRequests(ctx context.Context, tenant string, n int) ([]requestlog.Row, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT origin, n, at, operation, status, reason, client_ip, duration_ns FROM scim_requests
		WHERE tenant = $1 ORDER BY at DESC, origin, n DESC LIMIT $2`, tenant, n)
	if err != nil {
		return nil, fmt.Errorf("reading the latest requests: %w", err)
	}
	defer rows.Close()
	var out []requestlog.Row
	for rows.Next() {
		r := requestlog.Row{Tenant: tenant}
		var seq, duration int64
		var status int32
		if err := rows.Scan(&r.Origin, &seq, &r.Entry.Time, &r.Entry.Operation, &status, &r.Entry.Reason, &r.Entry.ClientIP, &duration); err != nil {
			return nil, fmt.Errorf("reading the latest requests: %w", err)
		}
		r.N, r.Entry.Status, r.Entry.Duration = uint64(seq), int(status), time.Duration(duration)
		r.Entry.Time = r.Entry.Time.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the latest requests: %w", err)
	}
	return out, nil
}
