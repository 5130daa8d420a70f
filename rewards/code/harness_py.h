// The Python that harness.cpp runs, as raw strings (passed with `python3 -I -c`, so it lives in the
// command line of a process we start, never in a file the program could rewrite). Included only by
// harness.cpp. Four parts: the value codec (shared), the stdin/stdout bootstrap, the solution server
// (untrusted side) and the test harness (trusted side).
#pragma once

namespace grpo::rewards::code::py {

// Tagged JSON for values crossing the pipe. Plain JSON for None/bool/int/finite float/str/list; a
// one-key object for everything else, so every JSON object is a tag: {"$t"} tuple, {"$d"} dict as
// pairs, {"$s"} set, {"$fs"} frozenset, {"$f"} nan/inf, {"$b"} bytes, {"$c"} complex, {"$o"} anything
// else (decoded as an Opaque that equals only itself). decode() is strict and builds builtin types only.
inline constexpr const char* kCodec = R"PY(
import base64 as _b64, math as _math

class Opaque:
    __slots__ = ("type_name",)
    def __init__(self, type_name):
        self.type_name = type_name
    def __repr__(self):
        return "<unencodable %s>" % self.type_name

def encode(v, depth=0):
    if v is None or v is True or v is False:
        return v
    if depth > 400:
        raise ValueError("value nested too deeply")
    d = depth + 1
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        f = float(v)
        return f if _math.isfinite(f) else {"$f": repr(f)}
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return [encode(x, d) for x in v]
    if isinstance(v, tuple):
        return {"$t": [encode(x, d) for x in v]}
    if isinstance(v, dict):
        return {"$d": [[encode(k, d), encode(x, d)] for k, x in v.items()]}
    if isinstance(v, frozenset):
        return {"$fs": [encode(x, d) for x in v]}
    if isinstance(v, set):
        return {"$s": [encode(x, d) for x in v]}
    if isinstance(v, (bytes, bytearray)):
        return {"$b": _b64.b64encode(bytes(v)).decode()}
    if isinstance(v, complex):
        return {"$c": [encode(float(v.real), d), encode(float(v.imag), d)]}
    return {"$o": type(v).__name__}

def _number(v):
    t = type(v)
    if t is float or t is int:
        return v
    if t is dict and len(v) == 1 and type(v.get("$f")) is str:
        return decode(v)
    raise ValueError("not a number")

def decode(v, depth=0):
    t = type(v)
    if v is None or t is bool or t is int or t is float or t is str:
        return v
    if depth > 400:
        raise ValueError("value nested too deeply")
    d = depth + 1
    if t is list:
        return [decode(x, d) for x in v]
    if t is dict and len(v) == 1:
        k, x = next(iter(v.items()))
        tx = type(x)
        if k == "$t" and tx is list:
            return tuple(decode(y, d) for y in x)
        if k == "$d" and tx is list:
            out = {}
            for p in x:
                if type(p) is not list or len(p) != 2:
                    raise ValueError("bad dict entry")
                out[decode(p[0], d)] = decode(p[1], d)
            return out
        if k == "$s" and tx is list:
            return set(decode(y, d) for y in x)
        if k == "$fs" and tx is list:
            return frozenset(decode(y, d) for y in x)
        if k == "$f" and x in ("nan", "inf", "-inf"):
            return float(x)
        if k == "$b" and tx is str:
            return _b64.b64decode(x, validate=True)
        if k == "$c" and tx is list and len(x) == 2:
            return complex(_number(x[0]), _number(x[1]))
        if k == "$o" and tx is str:
            return Opaque(x[:100])
    raise ValueError("not an encoded value")
)PY";

// stdin/stdout runs. fd 3: the program's source (read to EOF); fd 4: status lines written BEFORE any
// untrusted code runs ("started", then "compiled" or "unparsable ..."), then closed. fd 0/1/2 are the
// case's input and the captured output.
inline constexpr const char* kStdioBootstrap = R"PY(
import os, sys
sys.set_int_max_str_digits(0)
os.write(4, b"started\n")
_chunks = []
while True:
    _b = os.read(3, 1 << 20)
    if not _b:
        break
    _chunks.append(_b)
os.close(3)
try:
    _code = compile(b"".join(_chunks), "<solution>", "exec", dont_inherit=True)
except Exception as _e:
    os.write(4, ("unparsable %s: %s" % (type(_e).__name__, _e)).encode("utf-8", "replace")[:400] + b"\n")
    os._exit(1)
os.write(4, b"compiled\n")
os.close(4)
del _chunks, _b
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
)PY";

// The untrusted side: runs the program's source, then answers {"op": "lookup"|"call"} requests from fd 3
// with replies on fd 4 (one JSON object per line, echoing "seq"). fd 5: "started" before anything else.
// Whatever this process sends is only data to the harness; the program may rewrite all of this code.
inline constexpr const char* kServer = R"PY(
import os, sys, json
sys.set_int_max_str_digits(0)
os.write(5, b"started\n")
os.close(5)
_rd = os.fdopen(3, "rb")
_wr = os.fdopen(4, "wb")
_g = {"__name__": "__solution__", "__builtins__": __builtins__}

def _describe(e):
    try:
        return {"exc": str(type(e).__name__)[:100], "msg": str(e)[:300]}
    except BaseException:
        return {"exc": "Exception", "msg": ""}

while True:
    _line = _rd.readline()
    if not _line:
        break
    _req = json.loads(_line)
    _out = {"seq": _req["seq"], "ok": True}
    try:
        _op = _req["op"]
        if _op == "load":
            exec(compile(_req["source"], "<solution>", "exec", dont_inherit=True), _g)
        elif _op == "lookup":
            _v = _g.get(_req["name"], _out)
            if _v is _out:
                _out["kind"] = "missing"
            elif isinstance(_v, type(sys)):
                _out["kind"] = "module"
            elif callable(_v):
                _out["kind"] = "callable"
            else:
                _out["kind"] = "value"
                _out["value"] = encode(_v)
        else:
            _f = _g[_req["name"]]
            _out["value"] = encode(_f(*decode(_req["args"]), **decode(_req["kwargs"])))
    except BaseException as _e:
        _out = {"seq": _req["seq"], "ok": False}
        _out.update(_describe(_e))
    _wr.write(json.dumps(_out).encode() + b"\n")
    _wr.flush()
)PY";

// The trusted side: reads {"token", "source", "tests", "entry_point", "max_reply_bytes"} from stdin, checks
// that the source compiles (without running it), has the server load it, then runs the tests with every
// global name they do not define resolved in the program: functions become proxies that call through the
// pipe, so the tests compare plain decoded values here. When the tests define `check` at top level
// (HumanEval) and entry_point is set, `check(<entry_point>)` follows them; plain asserts (MBPP) run as they are. Writes "<token> started", then one verdict line
// "<token> pass|fail|unparsable|invalid_tests <json detail>" to fd 3, which only this process holds.
inline constexpr const char* kHarness = R"PY(
import ast, builtins, importlib, json, os, sys, traceback
sys.set_int_max_str_digits(0)
_cfg = json.loads(sys.stdin.buffer.read())
_token = _cfg["token"]
os.write(3, (_token + " started\n").encode())

def _verdict(kind, detail=""):
    os.write(3, (_token + " " + kind + " " + json.dumps(str(detail)[:1000]) + "\n").encode())
    os._exit(0)

try:
    compile(_cfg["source"], "<solution>", "exec", dont_inherit=True)
except Exception as e:
    _verdict("unparsable", "%s: %s" % (type(e).__name__, e))
def _binds_check(n):
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return n.name == "check"
    if isinstance(n, (ast.Assign, ast.AnnAssign)):
        targets = n.targets if isinstance(n, ast.Assign) else [n.target]
        return any(isinstance(t, ast.Name) and t.id == "check" for t in targets)
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name) == "check" for a in n.names)
    return False

try:
    _tree = compile(_cfg["tests"], "<tests>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    if _cfg["entry_point"] and any(_binds_check(n) for n in _tree.body):
        _cfg["tests"] += "\n\ncheck(%s)\n" % _cfg["entry_point"]
    _tests = compile(_cfg["tests"], "<tests>", "exec", dont_inherit=True)
except Exception as e:
    _verdict("invalid_tests", "%s: %s" % (type(e).__name__, e))

_req = os.fdopen(4, "wb")
_rep = os.fdopen(5, "rb")
_max_reply = int(_cfg["max_reply_bytes"])
_state = {"seq": 0, "broken": None}

class SolutionBroke(BaseException):
    """The solution process died or broke the protocol. Not an Exception: tests cannot swallow it."""

class SolutionError(Exception):
    """The solution raised an exception that is not a builtin one."""

def _remote(msg):
    if _state["broken"]:
        raise SolutionBroke(_state["broken"])
    _state["seq"] += 1
    msg["seq"] = _state["seq"]
    try:
        _req.write(json.dumps(msg).encode() + b"\n")
        _req.flush()
        line = _rep.readline(_max_reply + 1)
        if not line:
            raise ValueError("the solution process ended")
        if len(line) > _max_reply or not line.endswith(b"\n"):
            raise ValueError("a reply longer than %d bytes" % _max_reply)
        reply = json.loads(line)
        if type(reply) is not dict or reply.get("seq") != _state["seq"] or type(reply.get("ok")) is not bool:
            raise ValueError("a malformed reply")
        if not reply["ok"] and (type(reply.get("exc")) is not str or type(reply.get("msg")) is not str):
            raise ValueError("a malformed error reply")
    except (OSError, ValueError, RecursionError, MemoryError) as e:
        _state["broken"] = str(e) or type(e).__name__
        raise SolutionBroke(_state["broken"]) from None
    if not reply["ok"]:
        name, text = reply["exc"], reply["msg"]
        cls = getattr(builtins, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = SolutionError
            text = "%s: %s" % (name, text)
        try:
            err = cls(text)
        except Exception:
            err = SolutionError("%s: %s" % (name, text))
        raise err
    return reply

def _value(reply):
    try:
        return decode(reply.get("value"))
    except (ValueError, TypeError, RecursionError, MemoryError) as e:
        _state["broken"] = "undecodable value: %s" % e
        raise SolutionBroke(_state["broken"]) from None

class _SolutionFunction:
    __slots__ = ("_name",)
    def __init__(self, name):
        self._name = name
    def __call__(self, *args, **kwargs):
        return _value(_remote({"op": "call", "name": self._name, "args": encode(list(args)), "kwargs": encode(kwargs)}))
    def __repr__(self):
        return "<solution function %s>" % self._name

_builtin_names = frozenset(dir(builtins))

class _Namespace(dict):
    def __missing__(self, name):
        if type(name) is not str or name in _builtin_names or name.startswith("__"):
            raise KeyError(name)
        reply = _remote({"op": "lookup", "name": name})
        kind = reply.get("kind")
        if kind == "callable":
            value = _SolutionFunction(name)
        elif kind == "value":
            value = _value(reply)
        elif kind == "module" and name in sys.stdlib_module_names:
            value = importlib.import_module(name)
        else:
            raise KeyError(name)
        self[name] = value
        return value

def _describe(e):
    where = ""
    lines = _cfg["tests"].splitlines()
    for fr in traceback.extract_tb(e.__traceback__):
        if fr.filename == "<tests>" and fr.lineno and 0 < fr.lineno <= len(lines):
            where = " at tests line %d: %s" % (fr.lineno, lines[fr.lineno - 1].strip()[:200])
    if isinstance(e, SolutionBroke):
        return "the solution process broke (%s)%s" % (e, where)
    text = str(e)
    return "%s%s%s" % (type(e).__name__, ": " + text[:300] if text else "", where)

try:
    _remote({"op": "load", "source": _cfg["source"]})
except SolutionBroke as e:
    _verdict("fail", "the solution process broke while loading (%s)" % e)
except Exception as e:
    _verdict("fail", "the solution raised %s while loading" % _describe(e))

_g = _Namespace(__name__="__main__", __builtins__=builtins)
try:
    exec(_tests, _g)
except BaseException as e:
    _verdict("fail", _describe(e))
if _state["broken"]:
    _verdict("fail", "the solution process broke (%s)" % _state["broken"])
_verdict("pass")
)PY";

}  // namespace grpo::rewards::code::py
