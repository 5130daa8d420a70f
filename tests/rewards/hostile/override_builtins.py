# hostile: rewrites builtins that tests use (isinstance, abs, len, round, int, str, sorted, all, any)
# mode: call
# expect: wrong
import builtins
for name in ["isinstance", "abs", "len", "round", "sorted", "all", "any", "repr", "print", "type"]:
    setattr(builtins, name, lambda *args, **kwargs: True)
builtins.int = builtins.str = builtins.float = lambda *args, **kwargs: 0

def add(a, b):
    return 0
