// Distributed tests on this machine's loopback: a free port for the c10d store, and a rank's environment.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

#include "rl/dist.h"

namespace grpo::test {

// A TCP port free on the loopback right now (bound and released).
inline int64_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_port: no socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("free_port: cannot bind the loopback");
  return ntohs(a.sin_port);
}

// Rank `rank` of `world` meeting at 127.0.0.1:port.
inline rl::DistEnv loopback_env(int64_t rank, int64_t world, int64_t port) {
  rl::DistEnv env;
  env.rank = rank, env.world_size = world, env.local_world_size = world, env.master_port = port;
  return env;
}

}  // namespace grpo::test
