module github.com/caddy-scim/caddy-scim/examples/webhook

go 1.26.8

require github.com/caddy-scim/caddy-scim v0.0.0-00010101000000-000000000000

require (
	github.com/fatih/color v1.19.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/go-hclog v1.6.3 // indirect
	github.com/hashicorp/go-plugin v1.8.0 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.15 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/oklog/run v1.1.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260921155816-b14227669459 // indirect
	google.golang.org/grpc v1.83.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Until github.com/caddy-scim/caddy-scim is published, the SDK comes from
// this repository. A vendor's own module drops this line and runs
//
//	go get github.com/caddy-scim/caddy-scim@latest
replace github.com/caddy-scim/caddy-scim => ../..
