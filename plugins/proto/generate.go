// Package proto holds the versioned protocol between the caddy-scim host and
// its backend plugins: backend/v2/backend.proto and the Go code generated
// from it (package backendv2). Only plugins/sdk imports the generated code;
// vendors use the SDK's own types.
//
// The generated .pb.go files are committed, so building needs no code
// generator. After editing a .proto file, regenerate them from the module
// root with
//
//	go generate ./plugins/proto
//
// which needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH:
//
//	apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//
// Use the protoc-gen-go version that matches google.golang.org/protobuf in
// go.mod, so the generated code and the runtime agree.
package proto

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative backend/v2/backend.proto
