/* Access from C (issue 15 part 5): a default server requires the password
 * vtf_server_password gives; another local user (nobody, through runuser; the
 * tests run as root) gets NOAUTH while vtf's clients and valkey-cli with the
 * password get in; the password file is 0600 in a 0700 directory; replicas and
 * clusters work with it; vtf_config_set_auth(false) gives an open server and
 * vtf_config_set_password a chosen one. Parts: default off chosen replication
 * cluster. */
#include "check.h"

#include <sys/stat.h>

/* The first line `command` prints (stdout and stderr), in `line`. */
static void first_line(const char *command, char *line, size_t size) {
  FILE *out = popen(command, "r");
  CHECK_MSG(out != NULL, "running %s", command);
  line[0] = '\0';
  if (fgets(line, (int)size, out) == NULL) line[0] = '\0';
  pclose(out);
  line[strcspn(line, "\n")] = '\0';
}

/* valkey-cli PING to `server`: as user nobody when `as_nobody`, else as
 * ourselves with `password` (NULL: none) in env REDISCLI_AUTH. */
static void ping(const vtf_server *server, bool as_nobody, const char *password, char *line, size_t size) {
  char command[1024];
  if (as_nobody) {
    snprintf(command, sizeof command,
             "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH runuser -u nobody -- "
             "env -u REDISCLI_AUTH valkey-cli -h %s -p %u PING 2>&1",
             vtf_server_host(server), (unsigned)vtf_server_port(server));
  } else {
    snprintf(command, sizeof command, "%s%s%svalkey-cli -h %s -p %u PING 2>&1",
             password ? "REDISCLI_AUTH='" : "env -u REDISCLI_AUTH ", password ? password : "",
             password ? "' " : "", vtf_server_host(server), (unsigned)vtf_server_port(server));
  }
  first_line(command, line, size);
}

static void check_locked(const vtf_server *server) {
  const char *password = vtf_server_password(server);
  CHECK_MSG(password != NULL, "a default server has no password");
  char line[512];
  ping(server, true, NULL, line, sizeof line);
  CHECK_MSG(strncmp(line, "NOAUTH", 6) == 0, "user nobody got \"%s\", expected NOAUTH", line);
  ping(server, false, password, line, sizeof line);
  CHECK_STR_EQ(line, "PONG");
  vtf_client *client = check_connect(server);
  check_cmd_str(client, "PING", "PONG");
  vtf_client_free(client);
}

static mode_t mode_of(const char *path) {
  struct stat st;
  CHECK_MSG(stat(path, &st) == 0, "stat %s", path);
  return st.st_mode & 0777;
}

static void test_default(void) {
  vtf_server *server = check_start(NULL);
  const char *password = vtf_server_password(server);
  CHECK(password != NULL && strlen(password) >= 16);
  check_locked(server);
  char line[512];
  ping(server, false, NULL, line, sizeof line);
  CHECK_MSG(strncmp(line, "NOAUTH", 6) == 0, "valkey-cli without the password got \"%s\"", line);
  ping(server, false, "wrong-password", line, sizeof line);
  CHECK_MSG(strstr(line, "WRONGPASS") != NULL || strstr(line, "NOAUTH") != NULL, "got \"%s\"", line);

  CHECK_INT_EQ(mode_of(vtf_server_dir(server)), 0700);
  char file[4096];
  snprintf(file, sizeof file, "%s/password", vtf_server_dir(server));
  CHECK_INT_EQ(mode_of(file), 0600);
  FILE *f = fopen(file, "r");
  CHECK(f != NULL);
  char stored[256] = "";
  CHECK(fgets(stored, sizeof stored, f) != NULL);
  fclose(f);
  CHECK_STR_EQ(stored, password);

  /* The same process-wide credential for every server. */
  vtf_server *second = check_start(NULL);
  CHECK_STR_EQ(vtf_server_password(second), password);
  check_free_server(second);
  check_free_server(server);
}

static void test_off(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_auth(config, false));
  vtf_server *server = check_start(config);
  vtf_config_free(config);
  CHECK(vtf_server_password(server) == NULL);
  char line[512];
  ping(server, true, NULL, line, sizeof line);
  CHECK_STR_EQ(line, "PONG");
  vtf_client *client = check_connect(server);
  check_cmd_str(client, "PING", "PONG");
  vtf_client_free(client);
  check_free_server(server);
}

static void test_chosen(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_password(config, "chosen-by-the-test"));
  vtf_server *server = check_start(config);
  vtf_config_free(config);
  CHECK_STR_EQ(vtf_server_password(server), "chosen-by-the-test");
  check_locked(server);
  check_free_server(server);
}

static void test_replication(void) {
  vtf_config *config = vtf_config_new();
  vtf_replication *group = NULL;
  CHECK_OK(vtf_replication_create(config, 2, &group));
  vtf_config_free(config);
  vtf_server *primary = vtf_replication_primary(group);
  check_locked(primary);
  vtf_client *client = check_connect(primary);
  check_cmd_str(client, "SET k v", "OK");
  vtf_client_free(client);
  CHECK_OK(vtf_replication_wait_sync(group, 20000));
  for (size_t i = 0; i < 2; i++) {
    vtf_server *replica = vtf_replication_replica(group, i);
    check_locked(replica);
    CHECK_STR_EQ(vtf_server_password(replica), vtf_server_password(primary));
    vtf_client *rc = check_connect(replica);
    check_cmd_str(rc, "GET k", "v");
    vtf_client_free(rc);
  }
  vtf_replication_free(group);
}

static void test_cluster(void) {
  vtf_config *config = vtf_config_new();
  vtf_cluster *cluster = NULL;
  CHECK_OK(vtf_cluster_create(config, 3, 0, &cluster));
  vtf_config_free(config);
  for (size_t i = 0; i < 3; i++) check_locked(vtf_cluster_node(cluster, i));
  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64];
  for (int i = 0; i < 30; i++) {
    snprintf(command, sizeof command, "SET key%d v%d", i, i);
    check_cmd_str(client, command, "OK");
  }
  vtf_client_free(client);
  CHECK_OK(vtf_cluster_wait_ok(cluster, 20000));
  vtf_cluster_free(cluster);
}

int main(int argc, char **argv) {
  const char *part = argc > 1 ? argv[1] : "all";
  bool all = strcmp(part, "all") == 0;
  if (all || strcmp(part, "default") == 0) test_default();
  if (all || strcmp(part, "off") == 0) test_off();
  if (all || strcmp(part, "chosen") == 0) test_chosen();
  if (all || strcmp(part, "replication") == 0) test_replication();
  if (all || strcmp(part, "cluster") == 0) test_cluster();
  CHECK_DONE("test_auth");
}
