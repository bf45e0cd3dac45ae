/* External servers through the C API: attach to a running server and to a
 * 3x1 cluster, write through them, get VTF_ERR_UNSUPPORTED for what needs the
 * process, free the attached handles and find the real servers running with
 * the data; VTF_EXTERNAL=host:port turns vtf_server_start into an attach.
 *
 *   test_external          starts the real servers itself
 *   test_external env      run by `vtf run -- test_external env`: VTF_EXTERNAL
 *                          and VALKEY_PORT come from vtf, nothing is started */
#include "check.h"

static void set_key(const vtf_server *server, const char *key, const char *value) {
  vtf_client *client = check_connect(server);
  vtf_reply *reply = NULL;
  CHECK_OK(vtf_client_command(client, 3, (const char *[]){"SET", key, value}, NULL, &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_STATUS);
  vtf_reply_free(reply);
  vtf_client_free(client);
}

static void expect_key(const vtf_server *server, const char *key, const char *want) {
  vtf_client *client = check_connect(server);
  vtf_reply *reply = NULL;
  CHECK_OK(vtf_client_command(client, 2, (const char *[]){"GET", key}, NULL, &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_STRING);
  CHECK_STR_EQ(vtf_reply_string(reply, NULL), want);
  vtf_reply_free(reply);
  vtf_client_free(client);
}

/* Everything that needs the process says the server is external. */
static void expect_unsupported(vtf_server *attached) {
  CHECK(vtf_server_is_external(attached));
  CHECK_INT_EQ(vtf_server_pid(attached), -1);
  CHECK(vtf_server_is_running(attached));
  CHECK_STATUS(vtf_server_restart(attached, true), VTF_ERR_UNSUPPORTED);
  CHECK_CONTAINS(vtf_last_error(), "external server");
  CHECK_STATUS(vtf_server_restart(attached, false), VTF_ERR_UNSUPPORTED);
  CHECK_STATUS(vtf_server_stop(attached), VTF_ERR_UNSUPPORTED);
  CHECK_STATUS(vtf_server_check_clean(attached), VTF_ERR_UNSUPPORTED);
  char *text = NULL;
  CHECK_STATUS(vtf_server_log_tail(attached, 5, &text), VTF_ERR_UNSUPPORTED);
  CHECK(text == NULL);
  bool found = true;
  CHECK_STATUS(vtf_server_log_contains(attached, "Ready", &found), VTF_ERR_UNSUPPORTED);
  CHECK_STATUS(vtf_server_wait_for_log(attached, "Ready", 100), VTF_ERR_UNSUPPORTED);
  CHECK_STR_EQ(vtf_status_name(VTF_ERR_UNSUPPORTED), "VTF_ERR_UNSUPPORTED");
  /* What needs no process works. */
  char *value = NULL;
  CHECK_OK(vtf_server_info_field(attached, "server", "tcp_port", &value));
  CHECK_INT_EQ(atoi(value), vtf_server_port(attached));
  vtf_string_free(value);
}

static void attach_to_a_server(void) {
  vtf_server *real = check_start(NULL);
  vtf_config *config = vtf_config_new();
  vtf_server *attached = NULL;
  CHECK_OK(vtf_server_attach(config, "127.0.0.1", vtf_server_port(real), &attached));
  CHECK(!vtf_server_is_external(real));
  CHECK_INT_EQ(vtf_server_port(attached), vtf_server_port(real));
  CHECK_STR_EQ(vtf_server_host(attached), "127.0.0.1");
  set_key(attached, "c-attached", "1");
  expect_unsupported(attached);
  vtf_server_free(attached);
  CHECK(vtf_server_is_running(real));
  expect_key(real, "c-attached", "1");

  /* Bad input: NULL, no host, port 0, nothing listening. */
  CHECK_STATUS(vtf_server_attach(NULL, "127.0.0.1", 1, &attached), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_server_attach(config, NULL, 1, &attached), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_server_attach(config, "127.0.0.1", 1, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_server_attach(config, "127.0.0.1", 0, &attached), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_set_tls_files(config, "/ca.crt", "/client.crt", NULL),
               VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_set_tls_files(config, NULL, NULL, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_config_set_password(NULL, "x"), VTF_ERR_NULL_ARGUMENT);
  CHECK(!vtf_server_is_external(NULL));

  /* VTF_EXTERNAL=host:port turns vtf_server_start into an attach. */
  char address[64];
  snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)vtf_server_port(real));
  CHECK(setenv("VTF_EXTERNAL", address, 1) == 0);
  vtf_server *started = NULL;
  CHECK_OK(vtf_server_start(config, &started));
  CHECK(vtf_server_is_external(started));
  CHECK_INT_EQ(vtf_server_port(started), vtf_server_port(real));
  expect_key(started, "c-attached", "1");
  vtf_server_free(started);
  CHECK(unsetenv("VTF_EXTERNAL") == 0);
  CHECK(vtf_server_is_running(real));
  vtf_config_free(config);
  check_free_server(real);
}

static void attach_to_a_password_protected_server(void) {
  vtf_config *protected_config = vtf_config_new();
  CHECK_OK(vtf_config_add_arg(protected_config, "requirepass", "c secret"));
  vtf_server *real = check_start(protected_config);
  vtf_config *config = vtf_config_new();
  vtf_server *attached = NULL;
  CHECK_STATUS(vtf_server_attach(config, "127.0.0.1", vtf_server_port(real), &attached),
               VTF_ERR_CONNECTION);
  CHECK_CONTAINS(vtf_last_error(), "127.0.0.1");
  CHECK_OK(vtf_config_set_password(config, "c secret"));
  CHECK_OK(vtf_server_attach(config, "127.0.0.1", vtf_server_port(real), &attached));
  set_key(attached, "with-password", "yes");
  /* vtf's own SHUTDOWN has no password: stop it through the attached client. */
  vtf_client *client = check_connect(attached);
  vtf_reply *reply = NULL;
  vtf_client_command_str(client, "SHUTDOWN NOSAVE", &reply);
  vtf_reply_free(reply);
  vtf_client_free(client);
  vtf_server_free(attached);
  vtf_config_free(config);
  vtf_config_free(protected_config);
  check_free_server(real);
}

static void attach_to_a_cluster(void) {
  vtf_config *config = vtf_config_new();
  vtf_cluster *real = NULL;
  CHECK_OK(vtf_cluster_create(config, 3, 1, &real));
  vtf_cluster *attached = NULL;
  /* From a replica: the whole cluster is found from any node. */
  uint16_t seed = vtf_server_port(vtf_cluster_node(real, 4));
  CHECK_OK(vtf_cluster_attach(config, "127.0.0.1", seed, &attached));
  CHECK_INT_EQ(vtf_cluster_node_count(attached), 6);
  for (size_t i = 0; i < 6; i++) {
    vtf_server *node = vtf_cluster_node(attached, i);
    CHECK(node != NULL);
    CHECK(vtf_server_is_external(node));
    CHECK_INT_EQ(vtf_server_port(node), vtf_server_port(vtf_cluster_node(real, i)));
  }
  CHECK_STATUS(vtf_server_restart(vtf_cluster_node(attached, 0), true), VTF_ERR_UNSUPPORTED);

  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(attached, &client));
  char key[32];
  for (int i = 0; i < 60; i++) {
    snprintf(key, sizeof key, "c-cluster-%d", i);
    vtf_reply *reply = NULL;
    CHECK_OK(vtf_client_command(client, 3, (const char *[]){"SET", key, "v"}, NULL, &reply));
    CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_STATUS);
    vtf_reply_free(reply);
  }
  vtf_client_free(client);
  vtf_cluster_free(attached);

  /* Every real node still runs and the keys are there. */
  for (size_t i = 0; i < 6; i++) CHECK(vtf_server_is_running(vtf_cluster_node(real, i)));
  CHECK_OK(vtf_cluster_connect(real, &client));
  for (int i = 0; i < 60; i++) {
    snprintf(key, sizeof key, "c-cluster-%d", i);
    vtf_reply *reply = NULL;
    CHECK_OK(vtf_client_command(client, 2, (const char *[]){"GET", key}, NULL, &reply));
    CHECK_STR_EQ(vtf_reply_string(reply, NULL), "v");
    vtf_reply_free(reply);
  }
  vtf_client_free(client);
  CHECK_STATUS(vtf_cluster_attach(config, "127.0.0.1", 0, &attached), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_cluster_attach(NULL, "127.0.0.1", seed, &attached), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_cluster_attach(config, NULL, seed, &attached), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_cluster_attach(config, "127.0.0.1", seed, NULL), VTF_ERR_NULL_ARGUMENT);
  vtf_cluster_free(real);
  vtf_config_free(config);
}

/* Under `vtf run`: the server comes from VTF_EXTERNAL, started by vtf. */
static void against_vtf_run(void) {
  const char *external = getenv("VTF_EXTERNAL");
  const char *port = getenv("VALKEY_PORT");
  CHECK_MSG(external != NULL && port != NULL,
            "run me as `vtf run -- test_external env` (VTF_EXTERNAL is not set)");
  vtf_server *server = check_start(NULL);
  CHECK(vtf_server_is_external(server));
  CHECK_INT_EQ(vtf_server_port(server), atoi(port));
  set_key(server, "from-vtf-run", "1");
  expect_key(server, "from-vtf-run", "1");
  expect_unsupported(server);
  check_free_server(server);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "env") == 0) {
    against_vtf_run();
    CHECK_DONE("test_external env");
  }
  unsetenv("VTF_EXTERNAL");
  attach_to_a_server();
  attach_to_a_password_protected_server();
  attach_to_a_cluster();
  CHECK_DONE("test_external");
}
