# hostile: catches MemoryError, keeps holding the memory, then answers wrongly
# mode: call
# expect: fail
blocks = []
try:
    while True:
        blocks.append(b"x" * (16 << 20))
except MemoryError:
    pass

def add(a, b):
    return len(blocks)
