/* vtf_port: a port reserved across processes for a program the test starts
 * itself. While it is held, its lock files (the port's and the bus port's)
 * are locked, so no other reservation or vtf server takes it; the test can
 * listen on it; freeing it releases the locks. */
#include "check.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether another open file description can take the port's lock now
 * (flock locks belong to the open file description, so this process's own
 * reservation blocks it as another process's would). */
static bool lock_is_free(unsigned port) {
  const char *dir = getenv("VTF_PORT_LOCK_DIR");
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  if (dir != NULL && dir[0] != '\0') {
    snprintf(path, sizeof path, "%s/%u.lock", dir, port);
  } else {
    snprintf(path, sizeof path, "%s/vtf-ports/%u.lock", tmp && tmp[0] ? tmp : "/tmp", port);
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  CHECK_MSG(fd >= 0, "opening %s: %s", path, strerror(errno));
  bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return free_now;
}

static bool can_listen(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

int main(void) {
  /* NULL and nonsense. */
  CHECK_STATUS(vtf_port_reserve(NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "vtf_port_reserve");
  CHECK_INT_EQ(vtf_port_number(NULL), 0);
  vtf_port_free(NULL);

  vtf_port *first = NULL, *second = NULL;
  CHECK_OK(vtf_port_reserve(&first));
  CHECK_OK(vtf_port_reserve(&second));
  CHECK_STR_EQ(vtf_last_error(), "");
  unsigned a = vtf_port_number(first), b = vtf_port_number(second);
  CHECK(a != 0 && b != 0 && a != b);

  /* Below the kernel's ephemeral range, bus port included: no outgoing
   * connection can hold them. */
  unsigned low = 32768, high = 60999;
  FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (range != NULL) {
    CHECK(fscanf(range, "%u %u", &low, &high) == 2);
    fclose(range);
  }
  CHECK_MSG(a + 10000 < low && b + 10000 < low, "ports %u and %u (+10000) reach the ephemeral range from %u",
            a, b, low);

  /* Held: the port's and the bus port's locks are taken; the port is free to listen on. */
  CHECK_MSG(!lock_is_free(a) && !lock_is_free(a + 10000), "port %u is not locked while reserved", a);
  CHECK(!lock_is_free(b) && !lock_is_free(b + 10000));
  CHECK_MSG(can_listen(a), "cannot listen on the reserved port %u", a);

  /* A vtf server started meanwhile gets neither. */
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);
  vtf_server *server = NULL;
  CHECK_OK(vtf_server_start(config, &server));
  check_track(server);
  unsigned taken = vtf_server_port(server);
  CHECK(taken != a && taken != b);
  check_free_server(server);
  vtf_config_free(config);

  /* Freed: released at once. */
  vtf_port_free(first);
  CHECK_MSG(lock_is_free(a) && lock_is_free(a + 10000), "port %u is still locked after vtf_port_free", a);
  CHECK(!lock_is_free(b));
  vtf_port_free(second);
  CHECK(lock_is_free(b));
  printf("test_port: reserved %u and %u, released both\n", a, b);
  return 0;
}
