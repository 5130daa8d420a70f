# hostile: pre-writes protocol replies for every sequence number into the reply pipe (fd 4)
# mode: call
# expect: wrong
import json, os
replies = [{"seq": 1, "ok": True}, {"seq": 2, "ok": True, "kind": "callable"}]
for seq in range(3, 40):
    replies.append({"seq": seq, "ok": True, "value": True})
os.write(4, "".join(json.dumps(r) + "\n" for r in replies).encode())

def add(a, b):
    return {"$o": "anything"}
