/* Clusters through the C API (written from the contract in docs/c-api.md):
 * create a 2x1 cluster, node accessors, routing client, bad arguments,
 * failover, restart of a node with its data, free. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vtf.h>

static vtf_cluster *cluster_under_test;
static int checks;

static void fail(int line, const char *what) {
  fprintf(stderr, "test_cluster.c:%d: CHECK FAILED: %s\n  vtf_last_error(): %s\n", line, what,
          vtf_last_error());
  vtf_cluster_free(cluster_under_test); /* no server outlives a failed test */
  exit(1);
}

#define CHECK(cond)                       \
  do {                                    \
    checks++;                             \
    if (!(cond)) fail(__LINE__, #cond);   \
  } while (0)
#define CHECK_STATUS(expr, want) CHECK((expr) == (want))
#define CHECK_OK(expr) CHECK_STATUS(expr, VTF_OK)

/* Runs `command`; the reply must be a string or status equal to `want`
 * (NULL: a nil reply). */
static void expect_reply(int line, vtf_client *client, const char *command, const char *want) {
  vtf_reply *reply = NULL;
  if (vtf_client_command_str(client, command, &reply) != VTF_OK || reply == NULL)
    fail(line, command);
  size_t len = 0;
  const char *got = vtf_reply_string(reply, &len);
  bool ok = want == NULL ? vtf_reply_get_type(reply) == VTF_REPLY_NIL
                         : got != NULL && len == strlen(want) && memcmp(got, want, len) == 0;
  if (!ok) {
    fprintf(stderr, "\"%s\" replied \"%s\", expected \"%s\"\n", command, got ? got : "(none)",
            want ? want : "(nil)");
    vtf_reply_free(reply);
    fail(line, command);
  }
  vtf_reply_free(reply);
  checks++;
}
#define EXPECT_REPLY(client, command, want) expect_reply(__LINE__, (client), (command), (want))

/* INFO replication role of a node: "master" or "slave" (malloc'd). */
static char *role_of(vtf_server *node) {
  char *role = NULL;
  CHECK_OK(vtf_server_info_field(node, "replication", "role", &role));
  CHECK(role != NULL);
  return role;
}

static bool role_is(vtf_server *node, const char *want) {
  char *role = role_of(node);
  bool same = strcmp(role, want) == 0;
  vtf_string_free(role);
  return same;
}

int main(void) {
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);

  /* Bad arguments fail before anything starts; out stays untouched. */
  vtf_cluster *untouched = (vtf_cluster *)&checks;
  CHECK_STATUS(vtf_cluster_create(config, 0, 1, &untouched), VTF_ERR_INVALID_ARGUMENT);
  CHECK(untouched == (vtf_cluster *)&checks);
  CHECK(strstr(vtf_last_error(), "shard") != NULL);
  CHECK_STATUS(vtf_cluster_create(NULL, 1, 0, &untouched), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_cluster_create(config, 1, 0, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK(vtf_cluster_node_count(NULL) == 0);
  CHECK(vtf_cluster_node(NULL, 0) == NULL);
  CHECK_STATUS(vtf_cluster_wait_ok(NULL, 10), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_cluster_failover(NULL, 0), VTF_ERR_NULL_ARGUMENT);
  vtf_cluster_free(NULL);

  /* 2 shards x 1 replica: primaries at 0 and 1, replicas at 2 and 3. */
  vtf_cluster *cluster = NULL;
  CHECK_OK(vtf_cluster_create(config, 2, 1, &cluster));
  cluster_under_test = cluster;
  vtf_config_free(config);
  CHECK(strcmp(vtf_last_error(), "") == 0);
  CHECK(vtf_cluster_node_count(cluster) == 4);
  for (size_t i = 0; i < 4; i++) {
    vtf_server *node = vtf_cluster_node(cluster, i);
    CHECK(node != NULL);
    CHECK(vtf_server_is_running(node));
    CHECK(role_is(node, i < 2 ? "master" : "slave"));
  }
  CHECK(vtf_cluster_node(cluster, 4) == NULL);
  CHECK(strstr(vtf_last_error(), "out of range") != NULL);
  /* Nodes belong to the cluster: freeing one is refused and changes nothing. */
  vtf_server_free(vtf_cluster_node(cluster, 0));
  CHECK(vtf_server_is_running(vtf_cluster_node(cluster, 0)));
  CHECK(vtf_cluster_node(cluster, 0) == vtf_cluster_node(cluster, 0)); /* stable pointers */

  /* The cluster client routes by slot: keys land on both shards. */
  CHECK_STATUS(vtf_cluster_connect(cluster, NULL), VTF_ERR_NULL_ARGUMENT);
  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64], value[32];
  for (int i = 0; i < 50; i++) {
    snprintf(command, sizeof command, "SET key:%d value:%d", i, i);
    EXPECT_REPLY(client, command, "OK");
  }
  for (int i = 0; i < 50; i++) {
    snprintf(command, sizeof command, "GET key:%d", i);
    snprintf(value, sizeof value, "value:%d", i);
    EXPECT_REPLY(client, command, value);
  }
  long long total = 0;
  for (size_t shard = 0; shard < 2; shard++) {
    vtf_client *direct = NULL;
    CHECK_OK(vtf_client_connect(vtf_cluster_node(cluster, shard), &direct));
    vtf_reply *reply = NULL;
    CHECK_OK(vtf_client_command_str(direct, "DBSIZE", &reply));
    CHECK(vtf_reply_get_type(reply) == VTF_REPLY_INTEGER);
    CHECK(vtf_reply_integer(reply) > 0);
    total += vtf_reply_integer(reply);
    vtf_reply_free(reply);
    vtf_client_free(direct);
  }
  CHECK(total == 50);
  CHECK_OK(vtf_cluster_wait_ok(cluster, 10000));

  /* Failover: shard 0's replica (node 2) becomes the primary; the indices stay. */
  CHECK_STATUS(vtf_cluster_failover(cluster, 2), VTF_ERR_INVALID_ARGUMENT);
  CHECK_OK(vtf_cluster_failover(cluster, 0));
  CHECK(role_is(vtf_cluster_node(cluster, 2), "master"));
  CHECK(role_is(vtf_cluster_node(cluster, 0), "slave"));
  for (int i = 0; i < 50; i++) {
    snprintf(command, sizeof command, "SET key:%d after", i);
    EXPECT_REPLY(client, command, "OK");
  }

  /* A node restarted with its data keeps nodes.conf and rejoins. */
  vtf_server *node1 = vtf_cluster_node(cluster, 1);
  char nodes_conf[4096];
  snprintf(nodes_conf, sizeof nodes_conf, "%s/nodes.conf", vtf_server_dir(node1));
  struct stat st;
  CHECK(stat(nodes_conf, &st) == 0);
  CHECK_OK(vtf_server_restart(node1, true));
  CHECK_OK(vtf_cluster_wait_ok(cluster, 20000));
  for (int i = 0; i < 50; i++) {
    snprintf(command, sizeof command, "GET key:%d", i);
    EXPECT_REPLY(client, command, "after");
  }
  vtf_client_free(client);

  /* Freeing the cluster stops every node and removes their directories. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", vtf_server_dir(vtf_cluster_node(cluster, 3)));
  CHECK(stat(dir, &st) == 0);
  vtf_cluster_free(cluster);
  cluster_under_test = NULL;
  CHECK(stat(dir, &st) != 0);

  printf("test_cluster: %d checks passed\n", checks);
  return 0;
}
