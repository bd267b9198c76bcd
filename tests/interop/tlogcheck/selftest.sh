#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Self-test of tlogcheck: builds fixture logs with `tlogcheck -mkfixture`
# (Go's tlog and note), serves them with python3 -m http.server on loopback,
# and checks that intact logs pass every check and that tampered ones fail
# with the expected message. With openssl available it also checks HTTPS
# with a client certificate and server key pinning.
#
#   selftest.sh /path/to/tlogcheck WORKDIR
#
# WORKDIR is created if needed; only WORKDIR/selftest is written (and
# replaced). Exits non-zero on any unexpected result.

set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 TLOGCHECK_BINARY WORKDIR" >&2
	exit 2
fi
BIN=$(readlink -f "$1")
mkdir -p "$2" || exit 2
WORK=$(cd "$2" && pwd)/selftest
rm -rf "$WORK"
mkdir -p "$WORK/srv" || exit 2
SRV="$WORK/srv"
ORIGIN=riskgate/demo/bank-a
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

PASSED=0
FAILED=0
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	local i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "server on port $1 did not start" >&2
	exit 1
}

good() { # good DESC CMD...: must exit 0
	local desc=$1
	shift
	if "$@" >"$WORK/out" 2>"$WORK/err"; then
		PASSED=$((PASSED + 1))
		echo "ok   - $desc"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL - $desc: exit $?, expected 0"
		sed 's/^/       /' "$WORK/err"
	fi
}

bad() { # bad DESC PATTERN CMD...: must exit 1 with PATTERN on stderr
	local desc=$1 pat=$2 rc
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$pat" "$WORK/err" && grep -q '"ok":false' "$WORK/out"; then
		PASSED=$((PASSED + 1))
		echo "ok   - $desc: rejected: $(sed 's/^tlogcheck: FAIL: //' "$WORK/err" | head -c 200)"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL - $desc: exit $rc, expected 1 with stderr matching '$pat'"
		sed 's/^/       /' "$WORK/err"
	fi
}

json_is() { # json_is DESC PYTHON-EXPR over d (the summary in $WORK/out)
	if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$WORK/out" "$2"; then
		PASSED=$((PASSED + 1))
		echo "ok   - $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL - $1: summary $(cat "$WORK/out") does not satisfy $2"
	fi
}

flip() { # flip FILE OFFSET (negative counts from the end)
	"$PY" -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[o] ^= 0x01
open(p, "wb").write(bytes(b))' "$1" "$2"
}

flip_sig() { # flip FILE LINE_NAME: flip a byte of the Ed25519 signature of that signature line
	"$PY" -c 'import sys, base64
p, name = sys.argv[1], sys.argv[2]
lines = open(p, "rb").read().decode().split("\n")
for i, l in enumerate(lines):
    f = l.split(" ")
    if l.startswith("\u2014 ") and f[1] == name:
        s = bytearray(base64.b64decode(f[2])); s[-10] ^= 0x01
        lines[i] = "\u2014 %s %s" % (name, base64.b64encode(bytes(s)).decode())
        break
else:
    sys.exit("no signature line for " + name)
open(p, "wb").write("\n".join(lines).encode())' "$1" "$2"
}

tiles_for() { # number of tiles (all levels, latest width) of a tree of size $1
	local s=$1 t=0
	while [ "$s" -gt 0 ]; do
		t=$((t + (s + 255) / 256))
		s=$((s >> 8))
	done
	echo $t
}

PORT=$(free_port)
"$PY" -m http.server --bind 127.0.0.1 --directory "$SRV" "$PORT" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT"
echo "# serving $SRV on http://127.0.0.1:$PORT (python3 http.server, pid ${PIDS[0]})"
URL=http://127.0.0.1:$PORT

# --- Intact logs of several sizes ------------------------------------------
for N in 1 255 256 257 65836 70000; do
	D=$SRV/fx-$N
	VKEY=$("$BIN" -mkfixture "$D" -n "$N" -origin "$ORIGIN") || {
		echo "FAIL - mkfixture -n $N"
		exit 1
	}
	M=$((N / 2))
	[ $M -ge 1 ] || M=1
	LAST=$((N - 1))
	MID=$((N / 2))
	TILES=$(tiles_for "$N")
	echo "# fixture N=$N (old checkpoint M=$M, $TILES tiles): $VKEY"
	good "N=$N: checkpoint, all tiles, entries, proofs 0,$MID,$LAST, consistency $M->$N, cosignature" \
		"$BIN" -url "$URL/fx-$N" -origin "$ORIGIN" -vkey "$VKEY" -entries \
		-prove "0,$MID,$LAST" -old "$D/old-checkpoint" \
		-cosigned-url "$URL/fx-$N/cosigned-checkpoint" -cosigner "$(cat "$D/cosigner-vkey")"
	json_is "N=$N: summary" "d['ok'] and d['size']==$N and d['origin']=='$ORIGIN' and len(d['root'])==64 \
and d['tiles_verified']==$TILES and d['entries_verified']==$N and d['proofs_verified']==3 \
and d['consistency'] is True and d['cosigned_size']==$N and d['cosignatures_verified']==1"
	good "N=$N: checkpoint and tiles only" \
		"$BIN" -url "$URL/fx-$N" -origin "$ORIGIN" -vkey "$VKEY"
	json_is "N=$N: summary without options" "d['ok'] and d['tiles_verified']==$TILES and d['entries_verified']==0 \
and d['consistency'] is None and d['cosigned_size'] is None"
	good "N=$N: older cosigned checkpoint (size $M), relative -cosigned-url" \
		"$BIN" -url "$URL/fx-$N/" -origin "$ORIGIN" -vkey "$VKEY" \
		-cosigned-url cosigned-old-checkpoint -cosigner "$(cat "$D/cosigner-vkey")"
	json_is "N=$N: cosigned_size $M" "d['cosigned_size']==$M and d['cosignatures_verified']==1"
done

# --- Tampering -------------------------------------------------------------
# Each case works on a fresh copy of an intact fixture in $SRV/t.
T=$SRV/t
L=$T/$ORIGIN
TURL=$URL/t
fresh() { rm -rf "$T" && cp -r "$SRV/fx-$1" "$T"; }

N=70000
VKEY=$(cat "$SRV/fx-$N/vkey")
CHECK=("$BIN" -url "$TURL" -origin "$ORIGIN" -vkey "$VKEY")
echo "# tampering with copies of fx-$N (tiles: 274 at level 0, 2 at level 1, 1 at level 2)"

fresh $N; flip "$L/tile/0/005" 100
bad "flipped byte in full level-0 tile" "tile/0/005: the level-0 tiles give neither" "${CHECK[@]}"
fresh $N; flip "$L/tile/0/273.p/112" -1
bad "flipped byte in partial level-0 tile" "tile/0/273.p/112: the level-0 tiles do not give" "${CHECK[@]}"
fresh $N; flip "$L/tile/1/000" 4000
bad "flipped byte in full level-1 tile" "tile/1/000: hash 125" "${CHECK[@]}"
fresh $N; flip "$L/tile/1/001.p/17" 0
bad "flipped byte in partial level-1 tile" "tile/1/001.p/17: hash 0" "${CHECK[@]}"
fresh $N; flip "$L/tile/2/000.p/1" 31
bad "flipped byte in partial level-2 tile" "tile/2/000.p/1: hash 0" "${CHECK[@]}"
fresh $N; rm "$L/tile/0/100"
bad "removed level-0 tile" "tile/0/100: HTTP status 404" "${CHECK[@]}"
fresh $N; rm "$L/tile/1/001.p/17"
bad "removed partial level-1 tile" "tile/1/001.p/17: HTTP status 404" "${CHECK[@]}"
fresh $N; truncate -s 8160 "$L/tile/0/007"
bad "truncated tile" "tile/0/007: 8160 bytes, expected 8192" "${CHECK[@]}"
fresh $N; head -c 9000 /dev/zero >"$L/tile/0/008"
bad "oversized tile" "tile/0/008: Content-Length 9000 exceeds" "${CHECK[@]}"
fresh $N; flip "$L/tile/entries/100" -1
good "flipped byte in entry bundle, without -entries (not fetched)" "${CHECK[@]}"
bad "flipped byte in entry bundle, with -entries" "tile/entries/100: entry 255" "${CHECK[@]}" -entries
bad "flipped byte in entry bundle, -prove of that entry" "not included" "${CHECK[@]}" -prove 25855
good "flipped byte in entry bundle, -prove of another bundle's entry" "${CHECK[@]}" -prove 0
fresh $N; flip "$L/tile/entries/273.p/112" 0
bad "corrupted length prefix in partial entry bundle" "tile/entries/273.p/112" "${CHECK[@]}" -entries
fresh $N; printf 'x' >>"$L/tile/entries/003"
bad "trailing byte after the last entry" "tile/entries/003" "${CHECK[@]}" -entries
fresh $N; rm "$L/tile/entries/042"
bad "removed entry bundle" "tile/entries/042: HTTP status 404" "${CHECK[@]}" -entries
fresh $N; flip_sig "$L/checkpoint" "$ORIGIN"
bad "flipped byte in the checkpoint signature" "invalid signature by the log key" "${CHECK[@]}"
fresh $N; sed -i '2s/.*/70001/' "$L/checkpoint"
bad "changed tree size in the checkpoint" "invalid signature by the log key" "${CHECK[@]}"
fresh $N; sed -i '$d' "$L/checkpoint"
bad "checkpoint without signature lines" "not a valid signed note" "${CHECK[@]}"
fresh $N; cp "$SRV/fx-65836/$ORIGIN/checkpoint" "$L/checkpoint"
bad "checkpoint signed by another key of the same name" "no signature by the log key" "${CHECK[@]}"
bad "other -vkey" "no signature by the log key" \
	"$BIN" -url "$TURL" -origin "$ORIGIN" -vkey "$(cat "$SRV/fx-257/vkey")"
fresh $N
bad "-origin differing from the key name" "differs from the origin" \
	"$BIN" -url "$TURL" -origin riskgate/demo/bank-b -vkey "$VKEY"
bad "-old: fork (same key, same size as old, other root)" "is not a prefix" "${CHECK[@]}" -old "$T/fork-checkpoint"
bad "-old: checkpoint of another log key" "no signature by the log key" "${CHECK[@]}" -old "$SRV/fx-65836/old-checkpoint"
# Rollback: a fixture of 70000 entries whose old checkpoint (65536) can be
# served from the same tiles (every tile of 65536 is also a tile of 70000).
R=$SRV/fx-rollback
VKEY_R=$("$BIN" -mkfixture "$R" -n 70000 -m 65536 -origin "$ORIGIN") || exit 1
cp "$R/$ORIGIN/checkpoint" "$R/current-checkpoint"
cp "$R/old-checkpoint" "$R/$ORIGIN/checkpoint"
good "served checkpoint 65536 over the tiles of 70000" \
	"$BIN" -url "$URL/fx-rollback" -origin "$ORIGIN" -vkey "$VKEY_R"
json_is "served checkpoint 65536: 258 tiles" "d['size']==65536 and d['tiles_verified']==258"
bad "-old: a signed checkpoint larger than the served one (rollback)" "larger than the served tree size" \
	"$BIN" -url "$URL/fx-rollback" -origin "$ORIGIN" -vkey "$VKEY_R" -old "$R/current-checkpoint"
bad "cosigned checkpoint larger than the served one" "larger than the served tree size" \
	"$BIN" -url "$URL/fx-rollback" -origin "$ORIGIN" -vkey "$VKEY_R" -cosigned-url cosigned-checkpoint
bad "-prove out of range" "out of range" "${CHECK[@]}" -prove 70000
bad "-cosigner that did not cosign" "no cosignature by fixture.witness/w2" \
	"${CHECK[@]}" -cosigned-url "$TURL/cosigned-checkpoint" -cosigner "$(cat "$T/absent-cosigner-vkey")"
bad "-cosigner with a log key (type 0x01)" "expected 0x04" \
	"${CHECK[@]}" -cosigned-url "$TURL/cosigned-checkpoint" -cosigner "$VKEY"
fresh $N; flip_sig "$T/cosigned-checkpoint" fixture.witness/w1
bad "flipped byte in the cosignature" "invalid signature" \
	"${CHECK[@]}" -cosigned-url "$TURL/cosigned-checkpoint" -cosigner "$(cat "$T/cosigner-vkey")"
fresh $N; sed -i "/^— ${ORIGIN//\//\\/} /d" "$T/cosigned-checkpoint"
bad "cosigned checkpoint without the log signature" "no signature by the log key" \
	"${CHECK[@]}" -cosigned-url "$TURL/cosigned-checkpoint" -cosigner "$(cat "$T/cosigner-vkey")"
fresh $N; cp "$SRV/fx-257/cosigned-checkpoint" "$T/cosigned-checkpoint"
bad "cosigned checkpoint of another log" "no signature by the log key" \
	"${CHECK[@]}" -cosigned-url "$TURL/cosigned-checkpoint" -cosigner "$(cat "$SRV/fx-257/cosigner-vkey")"

# A small tree: the single partial tile is the only one of its level.
N=257
fresh $N
VKEY=$(cat "$SRV/fx-$N/vkey")
flip "$L/tile/0/001.p/1" 5
bad "N=257: flipped byte in the 1-hash partial tile" "tile/0/001.p/1" \
	"$BIN" -url "$TURL" -origin "$ORIGIN" -vkey "$VKEY"
fresh $N; mv "$L/tile/0/001.p/1" "$L/tile/0/001.p/2"
bad "N=257: partial tile served at the wrong width" "tile/0/001.p/1: HTTP status 404" \
	"$BIN" -url "$TURL" -origin "$ORIGIN" -vkey "$VKEY"
rm -rf "$T"

# --- HTTPS with a client certificate and a pinned server key ----------------
if command -v openssl >/dev/null 2>&1; then
	P=$WORK/pki
	mkdir -p "$P"
	mk() {
		openssl genpkey -algorithm ed25519 -out "$P/$1.key" 2>/dev/null &&
			openssl req -x509 -new -key "$P/$1.key" -subj "/CN=$2" -days 2 \
				-addext "subjectAltName=IP:127.0.0.1" -out "$P/$1.crt" 2>/dev/null
	}
	pin_of() {
		openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
			openssl dgst -sha256 -binary | base64
	}
	if mk server tlogcheck-selftest-server && mk client tlogcheck-selftest-client && mk other other; then
		cat >"$WORK/tls_server.py" <<'EOF'
import functools, http.server, ssl, sys
d, port, cert, key, ca = sys.argv[1:6]
tls12_only = sys.argv[6:] == ["tls1.2"]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
if tls12_only:
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
		TPORT=$(free_port)
		"$PY" "$WORK/tls_server.py" "$SRV" "$TPORT" "$P/server.crt" "$P/server.key" "$P/client.crt" \
			>"$WORK/https.log" 2>&1 &
		PIDS+=($!)
		wait_port "$TPORT"
		echo "# HTTPS server on port $TPORT requiring a client certificate (Ed25519 keys)"
		PIN=$(pin_of "$P/server.crt")
		HURL=https://127.0.0.1:$TPORT/fx-257
		VKEY=$(cat "$SRV/fx-257/vkey")
		good "HTTPS: client certificate, pinned server key, -entries" \
			"$BIN" -url "$HURL" -origin "$ORIGIN" -vkey "$VKEY" -entries \
			-cert "$P/client.crt" -key "$P/client.key" -pin "$PIN"
		json_is "HTTPS: summary" "d['ok'] and d['entries_verified']==257"
		bad "HTTPS: wrong pin" "server key pin mismatch" \
			"$BIN" -url "$HURL" -origin "$ORIGIN" -vkey "$VKEY" \
			-cert "$P/client.crt" -key "$P/client.key" -pin "$(pin_of "$P/other.crt")"
		bad "HTTPS: client certificate the server does not accept" "GET $HURL/$ORIGIN/checkpoint" \
			"$BIN" -url "$HURL" -origin "$ORIGIN" -vkey "$VKEY" \
			-cert "$P/other.crt" -key "$P/other.key" -pin "$PIN"
		bad "HTTPS: no client certificate" "GET $HURL/$ORIGIN/checkpoint" \
			"$BIN" -url "$HURL" -origin "$ORIGIN" -vkey "$VKEY" -pin "$PIN"
		bad "HTTPS: self-signed server without -pin (default verification)" "certificate" \
			"$BIN" -url "$HURL" -origin "$ORIGIN" -vkey "$VKEY"
		T12PORT=$(free_port)
		"$PY" "$WORK/tls_server.py" "$SRV" "$T12PORT" "$P/server.crt" "$P/server.key" "$P/client.crt" tls1.2 \
			>"$WORK/https12.log" 2>&1 &
		PIDS+=($!)
		wait_port "$T12PORT"
		bad "HTTPS: server limited to TLS 1.2 (TLS 1.3 is the minimum)" "protocol version" \
			"$BIN" -url "https://127.0.0.1:$T12PORT/fx-257" -origin "$ORIGIN" -vkey "$VKEY" \
			-cert "$P/client.crt" -key "$P/client.key" -pin "$PIN"
	else
		echo "# SKIP HTTPS tests: openssl could not make Ed25519 certificates"
	fi
else
	echo "# SKIP HTTPS tests: no openssl"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
