# hostile: takes over the request pipe (fd 3) and answers every request itself with a wildcard-looking value
# mode: call
# expect: fail
import json, os, sys
rd = os.fdopen(3, "rb")
wr = os.fdopen(4, "wb")
wr.write(b'{"seq": 1, "ok": true}\n')
wr.flush()
for line in rd:
    req = json.loads(line)
    reply = {"seq": req["seq"], "ok": True, "kind": "callable", "value": {"$o": "Anything"}}
    wr.write(json.dumps(reply).encode() + b"\n")
    wr.flush()
sys.exit(0)
