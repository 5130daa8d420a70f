# hostile: looks through its callers' frames and the garbage collector for the expected values
# mode: call
# expect: wrong
import gc, sys

def add(a, b):
    f = sys._getframe(1)
    while f is not None:
        for name, value in list(f.f_locals.items()) + list(f.f_globals.items()):
            if isinstance(value, int) and not isinstance(value, bool) and name not in ("a", "b") and value not in (a, b):
                return value
        f = f.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict) and obj.get("expected") is not None:
            return obj["expected"]
    return -1
