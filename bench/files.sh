#!/usr/bin/env bash
# File Manager benchmark: a 12-megapixel JPEG through the image pipeline natively, inside a
# component (the same crate, wasm), and end to end through POST /files (pipeline + 4 variants to
# Garage + Postgres + events); then a 10-second 1080p clip through the media worker (720p + 480p +
# poster + storage) beside a bare FFmpeg 720p transcode of the same clip, as multiples of real time.
# Prints Markdown tables. Usage: bash bench/files.sh   (DURATION=10s per row by default)
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"
DURATION="${DURATION:-10s}"
SECS="${DURATION%s}"
RUNS="${RUNS:-3}"

bash infra/setup-stores.sh
bash scripts/build.sh
apt_install wrk jq

BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
DB=nexgate_bench_files
PASSWORD=bench-password-of-nexgate
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
WORK="$(mktemp -d)"
source bench/lib.sh
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

step "preparing database $DB, a user, a 12 MP JPEG and a 10 s 1080p clip"
bench_db "$DB"
HASH="$("$BIN/nexgate-bench-auth" hash "$PASSWORD")"
USER_ID="$(cat /proc/sys/kernel/random/uuid)"
psql -q "$ADMIN/$DB" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO auth.accounts (id, email, email_verified_at, password_hash) VALUES ('$USER_ID', 'bench@example.com', now(), '$HASH');
SELECT profiles.create_profile('$USER_ID', 'bench_user', 'Bench');
SQL
"$BIN/nexgate-bench-media" make-jpeg "$WORK/12mp.jpg" 4000 3000
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=10" \
    -f lavfi -i "sine=frequency=440:duration=10" -c:v libx264 -preset fast -crf 20 -pix_fmt yuv420p \
    -c:a aac -shortest "$WORK/clip.mp4"

export_app_variables "$DB"
export SPIN_VARIABLE_LOGIN_FAILURES_PER_IP_MAX=1000000
# A private prefix: the worker's queue and the app's events meet only each other.
export SPIN_VARIABLE_EVENT_TOPIC_PREFIX="bench$$"
RUST_LOG=warn start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0; app_url="$started_url"
start "$BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0; probe_url="$started_url"
NEXGATE_AMQP_URL="$(amqp_url nexgate-admin)" \
    "$BIN/nexgate-ops" declare --subscriptions infra/subscriptions.toml --expires-ms 600000 >/dev/null 2>&1
NEXGATE_AMQP_URL="$(amqp_url nexgate-media)" NEXGATE_BASE_URL="$app_url" \
    "$BIN/nexgate-media-worker" --expires-ms 600000 >"$WORK/worker.log" 2>&1 &
pids+=($!)
TOKEN="$(curl -sf -X POST -H 'content-type: application/json' \
    --data '{"identifier":"bench@example.com","password":"'"$PASSWORD"'","device":{"id":"bench","name":"bench","platform":"other","app_version":"1"}}' \
    "$app_url/auth/login" | jq -r .access_token)"
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || fail "the benchmark user could not log in"

cat > "$WORK/image.lua" <<LUA
wrk.method = "POST"
local f = io.open("$WORK/12mp.jpg", "rb"); wrk.body = f:read("*a"); f:close()
LUA
# End to end: each request appends a counter after the JPEG's end marker (ignored by decoders), so
# the content-hash dedupe never answers from an earlier upload.
cat > "$WORK/upload.lua" <<LUA
local f = io.open("$WORK/12mp.jpg", "rb"); local body = f:read("*a"); f:close()
local n = 0
request = function()
    n = n + 1
    return wrk.format("POST", "/files?purpose=post",
        { ["authorization"] = "Bearer $TOKEN", ["content-type"] = "image/jpeg" },
        body .. string.format("%016d", n))
end
LUA

step "measuring images ($DURATION per row)"
wrk -t1 -c1 -d2s -s "$WORK/image.lua" "$probe_url/bench/image" >/dev/null
printf '\n| 12 MP JPEG (4000x3000, %s KiB) → 4 variants + BlurHash | concurrency | images/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n' \
    "$(( $(stat -c %s "$WORK/12mp.jpg") / 1024 ))"
read -r nr n50 n99 < <("$BIN/nexgate-bench-media" process "$WORK/12mp.jpg" "$SECS")
printf '| native (same crate, baseline) | 1 | %s | %s | %s | |\n' "$nr" "$n50" "$n99"
for c in 1 2; do
    read -r r p50 p99 bad < <(measure "$probe_url/bench/image" "$c" -s "$WORK/image.lua" --timeout 30s)
    printf '| pipeline inside a component (wasm) | %s | %s | %s | %s | %s |\n' "$c" "$r" "$(ms "$p50")" "$(ms "$p99")" "$bad"
done
for c in 1 2; do
    read -r r p50 p99 bad < <(measure "$app_url/files" "$c" -s "$WORK/upload.lua" --timeout 30s)
    printf '| POST /files end to end (+ Garage, Postgres, events) | %s | %s | %s | %s | %s |\n' "$c" "$r" "$(ms "$p50")" "$(ms "$p99")" "$bad"
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }

# Several images in one request: 4 distinct 12 MP JPEGs in one multipart POST /files at
# concurrency 1, processed at once in files-image instances (the default) against the same request
# on an app with files_parallel_images=false (one after another in files-api), in the same run,
# alternating which goes first. Goal (issue "What the business services need"): <= 0.6x.
step "measuring a multipart upload of 4 x 12 MP JPEGs, parallel vs one after another ($RUNS runs each)"
export SPIN_VARIABLE_FILES_PARALLEL_IMAGES=false
RUST_LOG=warn start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0; sequential_url="$started_url"
unset SPIN_VARIABLE_FILES_PARALLEL_IMAGES
# The media worker turns every stored variant into WebP (FFmpeg) right after an upload; each timed
# request waits until it is idle, so neither mode is measured against the previous one's FFmpeg.
media_worker_idle() {
    local _
    for _ in $(seq 600); do
        [ "$(psql -tAq "$ADMIN/$DB" -c "SELECT count(*) FROM files.media_jobs j
            WHERE NOT EXISTS (SELECT 1 FROM files.job_results r WHERE r.job_id = j.id)")" = 0 ] && return
        sleep 0.1
    done
    fail "the media worker did not finish its jobs (log: $WORK/worker.log)"
}
upload_four() { # url, run number: seconds for one request of 4 images never uploaded before
    media_worker_idle
    local args=() i
    for i in 1 2 3 4; do
        { cat "$WORK/12mp.jpg"; printf '%s-%016d-%d' "$1" "$2" "$i"; } > "$WORK/four-$i.jpg"
        args+=(-F "files=@$WORK/four-$i.jpg;type=image/jpeg")
    done
    local t0; t0="$(now)"
    local out
    out="$(curl -sf -X POST -H "authorization: Bearer $TOKEN" "${args[@]}" "$1/files?purpose=post")" \
        || fail "the multipart upload to $1 failed"
    [ "$(jq '[.results[] | select(.status == 201)] | length' <<<"$out")" = 4 ] || fail "not 4 new files: $out"
    awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'
}
upload_four "$app_url" 0 >/dev/null; upload_four "$sequential_url" 0 >/dev/null   # warm both
parallel=(); sequential=()
for run in $(seq "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then
        parallel+=("$(upload_four "$app_url" "$run")"); sequential+=("$(upload_four "$sequential_url" "$run")")
    else
        sequential+=("$(upload_four "$sequential_url" "$run")"); parallel+=("$(upload_four "$app_url" "$run")")
    fi
done
p="$(printf '%s\n' "${parallel[@]}" | median)"
q="$(printf '%s\n' "${sequential[@]}" | median)"
printf '\n| 4 x 12 MP JPEG in one multipart POST /files, concurrency 1 | median seconds | ratio |\n|---|---|---|\n'
printf '| one after another in files-api (baseline, files_parallel_images=false) | %.2f | 1.00 |\n' "$q"
printf '| at once, each in a files-image instance (default) | %.2f | %.2f |\n' "$p" "$(awk -v a="$p" -v b="$q" 'BEGIN { print a / b }')"

step "measuring video ($RUNS runs each)"
baseline=()
for _ in $(seq "$RUNS"); do
    t0="$(now)"
    ffmpeg -hide_banner -loglevel error -nostdin -y -i "$WORK/clip.mp4" -map 0:v:0 -map 0:a:0 -c:a aac -b:a 128k -ac 2 \
        -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -profile:v high -pix_fmt yuv420p \
        -map_metadata -1 -movflags +faststart -threads 2 "$WORK/baseline.mp4"
    baseline+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')")
done
size="$(stat -c %s "$WORK/clip.mp4")"
worker=()
for _ in $(seq "$RUNS"); do
    started="$(curl -sf -X POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        --data "{\"purpose\":\"post\",\"content_type\":\"video/mp4\",\"size_bytes\":$size}" "$app_url/files/uploads")"
    id="$(jq -r .file.id <<<"$started")"
    curl -sf -X PUT -H 'content-type: video/mp4' --data-binary @"$WORK/clip.mp4" "$(jq -r .upload.url <<<"$started")" >/dev/null \
        || fail "the presigned PUT failed"
    t0="$(now)"
    curl -sf -X POST -H "authorization: Bearer $TOKEN" "$app_url/files/$id/complete" >/dev/null || fail "complete failed"
    for _ in $(seq 1200); do
        status="$(curl -sf -H "authorization: Bearer $TOKEN" "$app_url/files/$id" | jq -r .status)"
        [ "$status" = processing ] || break
        sleep 0.1
    done
    [ "$status" = ready ] || fail "the clip ended $status (worker log: $WORK/worker.log)"
    worker+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')")
done
b="$(printf '%s\n' "${baseline[@]}" | median)"
w="$(printf '%s\n' "${worker[@]}" | median)"
printf '\n| 10 s 1080p30 H.264 clip (%s KiB) | median seconds | × real time |\n|---|---|---|\n' "$((size / 1024))"
printf '| bare FFmpeg, 720p only (baseline) | %.2f | %.1f |\n' "$b" "$(awk -v s="$b" 'BEGIN { print 10 / s }')"
printf '| media worker: complete → ready (720p + 480p + poster + BlurHash + storage) | %.2f | %.1f |\n' "$w" "$(awk -v s="$w" 'BEGIN { print 10 / s }')"
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
