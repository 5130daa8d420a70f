# hostile: raises its own rlimits (CPU, memory, processes, files), then allocates past the limit
# mode: call
# expect: fail
import resource
for r in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_NOFILE,
          resource.RLIMIT_FSIZE, resource.RLIMIT_DATA):
    try:
        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
    try:
        resource.prlimit(1, r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
hog = bytearray(4 << 30)

def add(a, b):
    return a + b
