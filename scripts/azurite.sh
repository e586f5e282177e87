#!/usr/bin/env bash
# Starts Azurite's Table service on a free loopback port, in memory, and prints
#   FERRY_TEST_AZURITE_TABLE=http://127.0.0.1:<port>/devstoreaccount1
#   AZURITE_PID=<pid>
# once it answers. Usage: scripts/azurite.sh [log file]. Stop it with `kill <pid>`.
# Installs the pinned test tools (package-lock.json: Azurite, and oav for the swagger tests)
# with `npm ci` when one is missing or package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
log="${1:-target/azurite-table.log}"
mkdir -p "$(dirname "$log")"

bin=node_modules/.bin/azurite-table
stamp=node_modules/.ferry-package-lock.json
if [ ! -x "$bin" ] || [ ! -x node_modules/.bin/oav ] || ! cmp -s package-lock.json "$stamp"; then
    command -v npm >/dev/null || { echo "azurite.sh: npm is needed to install the test tools (apt-get install nodejs npm)" >&2; exit 1; }
    echo "azurite.sh: installing the test tools from package-lock.json (npm ci)" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    cp package-lock.json "$stamp"
fi

# A free port: bind port 0 and read back what the kernel chose.
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

"$bin" --inMemoryPersistence --tableHost 127.0.0.1 --tablePort "$port" \
    --skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
pid=$!

# Any HTTP answer (even 403 for the unsigned probe) means it is up.
for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "azurite.sh: Azurite exited while starting; its log ($log):" >&2
        cat "$log" >&2
        exit 1
    fi
    if node -e 'require("http").get(process.argv[1],r=>process.exit(0)).on("error",()=>process.exit(1))' \
        "http://127.0.0.1:$port/devstoreaccount1/Tables" 2>/dev/null; then
        echo "FERRY_TEST_AZURITE_TABLE=http://127.0.0.1:$port/devstoreaccount1"
        echo "AZURITE_PID=$pid"
        exit 0
    fi
    sleep 0.2
done
echo "azurite.sh: Azurite did not answer on port $port within 20 s; its log ($log):" >&2
cat "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
