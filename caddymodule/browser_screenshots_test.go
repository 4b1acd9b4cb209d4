package caddymodule

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var writeScreenshots = flag.Bool("screenshots", false, "write the console's screenshots to docs/console")

// screenshotDir is where -screenshots writes them.
const screenshotDir = "../docs/console"

// screenCaddyfile has one tenant of the HP Insights-style backend, whose
// panel the screenshots show.
const screenCaddyfile = browserGlobals + `
{SITE} {
	scim {
		tenant contoso {
			backend hpinsights
		}
	}
	scim_console
}
`

// screen is a width and a device, as the screenshots show the console.
type screen struct {
	name          string
	width, height int64
	mobile        bool
}

var screens = []screen{
	{"desktop", 1280, 900, false},
	{"phone", 390, 844, true},
}

// TestConsoleScreenshots lays the token page and a busy tenant panel out
// at desktop and phone width, light and dark, and checks that nothing
// overflows sideways and that dark mode is dark. With -screenshots it
// writes each as a PNG to docs/console.
func TestConsoleScreenshots(t *testing.T) {
	in := startCaddy(t, screenCaddyfile)
	b := newBrowser(t, in)
	tb := b.newUser(t).tab(t)
	tb.signIn("contoso")

	// The token page, right after Generate Token.
	tb.navigate(chromedp.Click(chromedp.CSS(selGenerate), chromedp.NodeVisible))
	tok := tb.value("#token")
	tb.shoot("token")

	// Some activity, a failed and a good connection test, and a change
	// the product refuses: a second user with the same work email.
	in.scim(t, "GET", "/scim/v2/contoso/Users", "scim_copiedonlyhalf", "")
	ids := entraSync(t, in, "contoso", tok)
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dan@contoso.example",
		"displayName":"Dan Example","emails":[{"primary":true,"type":"work","value":"bob@contoso.example"}]}`
	if status, _, res := in.scim(t, "POST", "/scim/v2/contoso/Users", tok, body); status != 201 {
		t.Fatalf("create dan: %d %v", status, res)
	}
	in.waitDeadLetters(t, "contoso", 1)
	if len(ids) == 0 {
		t.Fatal("no users provisioned")
	}
	tb.open("/console/t/contoso/")
	if _, ok := tb.notices()["dead_letters"]; !ok {
		t.Fatalf("the panel shows no warning: %s", tb.where())
	}
	tb.shoot("panel")
}

// shoot lays the page out on every screen in light and dark, checks it,
// and with -screenshots writes docs/console/NAME-SCREEN-THEME.png.
func (tb *tab) shoot(name string) {
	tb.t.Helper()
	for _, sc := range screens {
		for _, theme := range []string{"light", "dark"} {
			file := fmt.Sprintf("%s-%s-%s.png", name, sc.name, theme)
			ctx, cancel := tb.step()
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(sc.width, sc.height, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
					p.Mobile = sc.mobile
				}),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}},
					})
					return err
				}),
			)
			cancel()
			if err != nil {
				tb.t.Fatalf("%s: emulating the screen: %v", file, err)
			}
			var layout struct {
				ScrollWidth, Height int64
				Background          string
			}
			tb.eval(`({scrollWidth: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
				background: getComputedStyle(document.body).backgroundColor})`, &layout)
			if layout.ScrollWidth > sc.width {
				tb.t.Errorf("%s: the page is %dpx wide on a %dpx screen", file, layout.ScrollWidth, sc.width)
			}
			wantBG := map[string]string{"light": "rgb(246, 247, 249)", "dark": "rgb(20, 23, 28)"}[theme]
			if layout.Background != wantBG {
				tb.t.Errorf("%s: the background is %s, want %s", file, layout.Background, wantBG)
			}
			if !*writeScreenshots {
				continue
			}
			ctx, cancel = tb.step()
			png, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
				beyond := true
				r, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
					Format:                page.CaptureScreenshotFormatPng,
					CaptureBeyondViewport: &beyond,
					Clip:                  &page.Viewport{Width: float64(sc.width), Height: math.Max(float64(layout.Height), float64(sc.height)), Scale: 1},
				})
				return r.Data, err
			})
			cancel()
			if err != nil {
				tb.t.Fatalf("%s: %v", file, err)
			}
			if err := os.WriteFile(filepath.Join(screenshotDir, file), png, 0o644); err != nil {
				tb.t.Fatal(err)
			}
		}
	}
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		tb.t.Fatal(err)
	}
}
