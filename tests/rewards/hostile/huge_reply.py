# hostile: returns a value whose encoding is far larger than the reply limit
# mode: call
# expect: wrong
def add(a, b):
    return "5" * (64 << 20)
