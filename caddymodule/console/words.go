package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
)

// notice is a warning worded for a tenant admin.
type notice struct {
	// Level is "error", "warn" or "info": how urgent it is.
	Level string
	Code  string
	Text  string
}

// tenantNotices words the server's warnings for a tenant admin: what is
// wrong and what to do. A code the console does not know keeps the
// server's wording.
func tenantNotices(p *Panel, now time.Time) []notice {
	var out []notice
	for _, w := range p.Warnings {
		out = append(out, tenantNotice(w, p, now))
	}
	return out
}

func tenantNotice(w Warning, p *Panel, now time.Time) notice {
	n := notice{Code: w.Code, Level: "warn"}
	switch w.Code {
	case "token_missing":
		n.Level = "info"
		n.Text = "No token has been generated yet. Generate one below, then enter the Tenant URL and the token " +
			"in the provisioning settings of your identity provider."
	case "token_expiring":
		if p.Token != nil {
			n.Text = fmt.Sprintf("Your token expires on %s (%s). Regenerate it and enter the new token in your "+
				"identity provider before then, or provisioning stops.", formatDate(p.Token.ExpiresAt), relative(p.Token.ExpiresAt, now))
		} else {
			n.Text = "Your token expires soon. Regenerate it and enter the new token in your identity provider before then, or provisioning stops."
		}
	case "token_expired":
		n.Level = "error"
		switch {
		case p.Token != nil && now.Before(p.Token.ExpiresAt):
			n.Text = "Your token was revoked and no longer works, so your identity provider cannot provision users. " +
				"Generate a new token and enter it in your identity provider."
		case p.Token != nil:
			n.Text = fmt.Sprintf("Your token expired on %s, so your identity provider cannot provision users. "+
				"Regenerate the token and enter the new one in your identity provider.", formatDate(p.Token.ExpiresAt))
		default:
			n.Text = "Your token no longer works. Generate a new token and enter it in your identity provider."
		}
	case "never_used":
		n.Text = "Your identity provider has not connected yet. Enter the Tenant URL and the token in its provisioning " +
			"settings, switch provisioning on and test the connection there; each attempt appears under Connection check."
	case "idle":
		since := "over 60 days"
		if p.LastRequest != nil {
			since = formatDate(*p.LastRequest) + ", over 60 days ago"
		}
		n.Text = fmt.Sprintf("No update has arrived from your identity provider since %s. Check that provisioning is "+
			"still switched on there and that it uses your current token.", since)
	case "dead_letters":
		n.Level = "error"
		what := "Some changes"
		if p.Backend != nil && p.Backend.DeadLetters > 0 {
			what = plural(p.Backend.DeadLetters, "change", "changes")
		}
		n.Text = what + " from your identity provider could not be applied. They are listed under Changes not applied, " +
			"each with the reason; once the cause is fixed, replay them."
	case "delivery_failing":
		n.Level = "error"
		n.Text = "Changes from your identity provider are accepted but are not being applied at the moment. They are kept " +
			"and applied in order once this recovers; nothing needs changing in your identity provider. " +
			"If it lasts, contact your service provider."
	case "disabled":
		n.Level = "error"
		n.Text = "Provisioning is switched off for your organization: your identity provider's requests are refused and " +
			"its token does not work. Your users and groups are kept. Ask your service provider to switch it on again."
	case "profile_missing":
		n.Level = "error"
		n.Text = "Provisioning is not available for your organization at the moment because of a problem on the " +
			"server. Your data is kept. Contact your service provider."
	case "identifier_collisions":
		n.Text = "Some users or groups have names that differ only in letter case, width or accents. Both of each pair " +
			"were kept, not merged; rename or remove one of each pair in your identity provider."
	case "unknown_members":
		n.Text = "Your identity provider added members to groups that it has not provisioned here, so they were left " +
			"out of those groups. Assign those users and groups to the provisioning app in your identity provider, " +
			"or remove them from the groups there."
	default:
		n.Text = w.Message
	}
	return n
}

// authReasons words why the Tenant URL refused a request with 401.
var authReasons = map[string]string{
	"missing":          "no token was sent: enter the token in your identity provider",
	"not_bearer":       "the token was not sent as a bearer token: check the authentication method in your identity provider",
	"invalid":          "the token is not one of this tenant's: check that it was copied whole and is not another tenant's",
	"revoked":          "the token was replaced or revoked: enter the newest token",
	"expired":          "the token has expired: regenerate it and enter the new one",
	"multiple_headers": "the request carried more than one Authorization header",
}

// requestOutcome words a connection-check row's status.
func requestOutcome(q Request) string {
	switch {
	case q.Status == http.StatusUnauthorized:
		if s, ok := authReasons[q.Reason]; ok {
			return "Refused: " + s
		}
		return "Refused: the token was not accepted"
	case q.Status >= 200 && q.Status < 300:
		return "OK"
	case q.Status == http.StatusNotFound:
		return "Not found"
	case q.Status == http.StatusConflict:
		return "Refused: it already exists"
	case q.Status == http.StatusTooManyRequests:
		return "Refused: too many requests at once; the identity provider retries"
	case q.Status >= 400 && q.Status < 500:
		return "Refused: " + strings.ToLower(http.StatusText(q.Status))
	case q.Status >= 500:
		return "Server error"
	}
	return http.StatusText(q.Status)
}

// activityText words a journal event's kind.
func activityText(a Activity) string {
	return changeText(a.Kind, a.Members)
}

// changeText words a change kind; members is how many members a
// membership change concerns.
func changeText(kind string, members int) string {
	switch change.Kind(kind) {
	case change.UserCreated:
		return "User created"
	case change.UserUpdated:
		return "User updated"
	case change.UserDeactivated:
		return "User deactivated"
	case change.UserReactivated:
		return "User reactivated"
	case change.UserDeleted:
		return "User deleted"
	case change.GroupCreated:
		return "Group created"
	case change.GroupUpdated:
		return "Group updated"
	case change.GroupDeleted:
		return "Group deleted"
	case change.MembersAdded:
		if members == 0 {
			return "Members added to group"
		}
		return "Added to group: " + plural(members, "member", "members")
	case change.MembersRemoved:
		if members == 0 {
			return "Members removed from group"
		}
		return "Removed from group: " + plural(members, "member", "members")
	}
	return kind
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return formatTime(*t)
}

func formatDate(t time.Time) string {
	return t.UTC().Format("2 Jan 2006")
}

// relative says how far t is from now: "3 days ago", "in 12 days".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		d = -d
		if d < time.Minute {
			return "just now"
		}
		return humanDuration(d) + " ago"
	}
	if d < time.Minute {
		return "in under a minute"
	}
	// To the nearest minute first: a token valid for a year, shown a few
	// milliseconds after it was made, expires "in 1 year", not "in 364
	// days".
	return "in " + humanDuration(d.Round(time.Minute))
}

// humanDuration words a duration in its largest whole unit, rounded down:
// "5 minutes", "3 hours", "12 days".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second", "seconds")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour", "hours")
	case d < 365*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day", "days")
	}
	days := int(d / (24 * time.Hour))
	if days%365 == 0 {
		return plural(days/365, "year", "years")
	}
	return plural(days, "day", "days")
}
