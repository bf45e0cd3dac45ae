/* The cluster contract as a module author would check it from C: a 3x1
 * cluster has 6 nodes, CLUSTER INFO and CLUSTER SLOTS agree, 300 keys go
 * through the routing client, valkey-cli -c follows the redirects to our keys,
 * freeing stops all 6 processes, and a 3x0 TLS cluster serves writes. */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>

static vtf_reply *run(vtf_client *client, const char *command) {
  vtf_reply *reply = NULL;
  CHECK_MSG(vtf_client_command_str(client, command, &reply) == VTF_OK, "%s", command);
  CHECK_MSG(vtf_reply_get_type(reply) != VTF_REPLY_ERROR, "%s replied %s", command,
            vtf_reply_string(reply, NULL));
  return reply;
}

static void check_cluster_info(vtf_server *node) {
  vtf_client *client = check_connect(node);
  vtf_reply *info = run(client, "CLUSTER INFO");
  const char *text = vtf_reply_string(info, NULL);
  CHECK_CONTAINS(text, "cluster_state:ok");
  CHECK_CONTAINS(text, "cluster_known_nodes:6");
  CHECK_CONTAINS(text, "cluster_size:3");
  vtf_reply_free(info);

  /* CLUSTER SLOTS: 3 ranges, each [start, end, primary, replica]. */
  vtf_reply *slots = run(client, "CLUSTER SLOTS");
  CHECK_INT_EQ(vtf_reply_len(slots), 3);
  long long covered = 0;
  for (size_t i = 0; i < vtf_reply_len(slots); i++) {
    const vtf_reply *range = vtf_reply_element(slots, i);
    CHECK_MSG(vtf_reply_len(range) == 4, "slot range %zu has %zu entries, expected primary + 1 replica",
              i, vtf_reply_len(range));
    covered += vtf_reply_integer(vtf_reply_element(range, 1)) -
               vtf_reply_integer(vtf_reply_element(range, 0)) + 1;
  }
  CHECK_INT_EQ(covered, 16384);
  vtf_reply_free(slots);
  vtf_client_free(client);
}

/* valkey-cli -c on node 0 reads `key` (which lives on another shard). */
static void check_valkey_cli_follows_redirects(vtf_server *node0, const char *key, const char *want) {
  char command[512];
  /* The password (letters and digits) through the environment, as the docs say. */
  const char *password = vtf_server_password(node0);
  snprintf(command, sizeof command, "%s%s%svalkey-cli -c -h %s -p %u GET %s 2>&1",
           password ? "REDISCLI_AUTH='" : "", password ? password : "", password ? "' " : "",
           vtf_server_host(node0), (unsigned)vtf_server_port(node0), key);
  FILE *out = popen(command, "r");
  CHECK_MSG(out != NULL, "running %s", command);
  char line[256] = "";
  char *got = fgets(line, sizeof line, out);
  int status = pclose(out);
  CHECK_MSG(status == 0 && got != NULL, "%s failed (status %d): %s", command, status, line);
  line[strcspn(line, "\n")] = '\0';
  CHECK_MSG(strcmp(line, want) == 0, "%s printed \"%s\", expected \"%s\"", command, line, want);
}

/* A cluster with an explicit TLS mode (whatever env VTF_TLS says). */
static vtf_cluster *start_cluster(vtf_tls_mode tls, size_t shards, size_t replicas) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_tls(config, tls));
  vtf_cluster *cluster = NULL;
  CHECK_OK(vtf_cluster_create(config, shards, replicas, &cluster));
  vtf_config_free(config);
  CHECK_INT_EQ(vtf_cluster_node_count(cluster), shards * (1 + replicas));
  return cluster;
}

static void test_3x1(void) {
  /* Plain TCP: valkey-cli below is run without TLS options. */
  vtf_cluster *cluster = start_cluster(VTF_TLS_OFF, 3, 1);
  int32_t pids[6];
  for (size_t i = 0; i < 6; i++) {
    pids[i] = vtf_server_pid(vtf_cluster_node(cluster, i));
    CHECK_MSG(pids[i] > 0, "node %zu has no pid", i);
  }
  check_cluster_info(vtf_cluster_node(cluster, 0));

  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64], value[32];
  for (int i = 0; i < 300; i++) {
    snprintf(command, sizeof command, "SET key:%d value:%d", i, i);
    vtf_reply_free(run(client, command));
  }
  for (int i = 0; i < 300; i++) {
    snprintf(command, sizeof command, "GET key:%d", i);
    snprintf(value, sizeof value, "value:%d", i);
    vtf_reply *reply = run(client, command);
    CHECK_MSG(strcmp(vtf_reply_string(reply, NULL), value) == 0, "%s gave %s", command,
              vtf_reply_string(reply, NULL));
    vtf_reply_free(reply);
  }

  /* A key that node 0 does not own: valkey-cli must follow a MOVED to it. */
  vtf_client *direct = check_connect(vtf_cluster_node(cluster, 0));
  int moved = -1;
  for (int i = 0; i < 300 && moved < 0; i++) {
    snprintf(command, sizeof command, "GET key:%d", i);
    vtf_reply *reply = NULL;
    CHECK_OK(vtf_client_command_str(direct, command, &reply));
    if (vtf_reply_get_type(reply) == VTF_REPLY_ERROR &&
        strncmp(vtf_reply_string(reply, NULL), "MOVED", 5) == 0)
      moved = i;
    vtf_reply_free(reply);
  }
  vtf_client_free(direct);
  CHECK_MSG(moved >= 0, "node 0 owned all 300 keys");
  char key[32];
  snprintf(key, sizeof key, "key:%d", moved);
  snprintf(value, sizeof value, "value:%d", moved);
  check_valkey_cli_follows_redirects(vtf_cluster_node(cluster, 0), key, value);
  vtf_client_free(client);

  /* Freeing the cluster stops all 6 processes. */
  vtf_cluster_free(cluster);
  for (size_t i = 0; i < 6; i++)
    CHECK_MSG(kill(pids[i], 0) == -1 && errno == ESRCH, "node %zu (pid %d) survived the free", i,
              (int)pids[i]);
}

static void test_3x0_tls(void) {
  vtf_cluster *cluster = start_cluster(VTF_TLS_ON, 3, 0);
  CHECK(vtf_server_tls_ca_cert_path(vtf_cluster_node(cluster, 0)) != NULL);
  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64];
  for (int i = 0; i < 60; i++) {
    snprintf(command, sizeof command, "SET tls:%d %d", i, i);
    vtf_reply_free(run(client, command));
  }
  vtf_reply *reply = run(client, "GET tls:59");
  CHECK_MSG(strcmp(vtf_reply_string(reply, NULL), "59") == 0, "GET tls:59 gave %s",
            vtf_reply_string(reply, NULL));
  vtf_reply_free(reply);
  vtf_client_free(client);
  vtf_cluster_free(cluster);
}

int main(void) {
  test_3x1();
  test_3x0_tls();
  CHECK_DONE("test_cluster_3x1");
}
