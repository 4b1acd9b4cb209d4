package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// adminClient talks to Caddy's admin endpoint.
type adminClient struct {
	base string
	hc   *http.Client
}

func newAdminClient(port int) *adminClient {
	return &adminClient{
		base: "http://localhost:" + strconv.Itoa(port),
		hc: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
			DialContext:         loopbackDialer(port, nil),
			MaxIdleConnsPerHost: 16,
		}},
	}
}

// do sends a request with an optional JSON body and returns the status and
// the response body.
func (a *adminClient) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	header := http.Header{}
	if body != nil {
		header.Set("Content-Type", "application/json")
	}
	return send(ctx, a.hc, method, a.base+path, header, rd)
}

// send makes one request and reads the whole answer, so that the
// connection can be used again.
func send(ctx context.Context, hc *http.Client, method, url string, header http.Header, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header = header
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// expect is do that fails unless the status is want.
func (a *adminClient) expect(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	status, b, err := a.do(ctx, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if status != want {
		return b, fmt.Errorf("admin %s %s: %d, want %d: %s", method, path, status, want, clipString(string(bytes.TrimSpace(b))))
	}
	return b, nil
}

// rootCAs returns a pool holding the root of Caddy's internal CA.
func (a *adminClient) rootCAs(ctx context.Context) (*x509.CertPool, error) {
	b, err := a.expect(ctx, "GET", "/pki/ca/local", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if err := json.Unmarshal(b, &ca); err != nil {
		return nil, fmt.Errorf("/pki/ca/local: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		return nil, errors.New("/pki/ca/local: no PEM root certificate")
	}
	return pool, nil
}

// loopbackDialer dials 127.0.0.1:port whatever the URL's host says,
// counting the connections it makes in dials when that is not nil.
func loopbackDialer(port int, dials *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, target)
		if err == nil && dials != nil {
			dials.Add(1)
		}
		return c, err
	}
}

// scimClient sends SCIM requests to the site over HTTP/1.1 with TLS,
// keeping one connection alive.
type scimClient struct {
	base  string
	hc    *http.Client
	dials atomic.Int64
}

// newSCIMClient trusts roots, or skips verification when roots is nil.
func newSCIMClient(port int, roots *x509.CertPool, keepAlive bool) *scimClient {
	c := &scimClient{base: "https://localhost:" + strconv.Itoa(port)}
	tlsConf := &tls.Config{ServerName: "localhost", RootCAs: roots}
	if roots == nil {
		tlsConf.InsecureSkipVerify = true
	}
	c.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         loopbackDialer(port, &c.dials),
		TLSClientConfig:     tlsConf,
		MaxIdleConnsPerHost: 8,
		DisableKeepAlives:   !keepAlive,
	}}
	return c
}

// do sends a SCIM request and returns the status and the body.
func (c *scimClient) do(ctx context.Context, method, path, token, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	header := http.Header{"Authorization": {"Bearer " + token}}
	if body != "" {
		header.Set("Content-Type", "application/scim+json")
	}
	return send(ctx, c.hc, method, c.base+path, header, rd)
}

func usersPath(tenant string) string { return "/scim/v2/" + tenant + "/Users" }

// userBody is a user every built-in backend accepts: it has a primary work
// email.
func userBody(email string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q,"type":"work","primary":true}],"active":true}`, email, email)
}
