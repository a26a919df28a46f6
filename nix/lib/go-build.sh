export GOROOT="$goroot" GOCACHE="$TMPDIR/gocache" GOPATH="$TMPDIR/gopath" GOTOOLCHAIN=local
export CGO_ENABLED=0 GOPROXY=off GOFLAGS="-trimpath -buildvcs=false" GO111MODULE=auto
mkdir -p "$out/libexec"
mode=""
if [ -d "$out/app/vendor" ]; then mode="-mod=vendor"; fi
echo "hop: go build $mode"
(cd "$out/app" && "$go/bin/go" build $mode -ldflags=-buildid= -o "$out/libexec/$goBinary" .)
