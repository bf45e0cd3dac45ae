/* Building valkey-server from source through the C API: every vtf_build_*
 * function with NULL and nonsense, a ref that does not exist, a real build of
 * 8.1.1 from the local repository (env VTF_TEST_VALKEY_REPO, set by
 * scripts/c-tests.sh; usually already in the cache that the Rust build tests
 * filled), a config that names the version, and the other config and client
 * extras (keep_data, client timeouts). */
#include "check.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_options_and_null(void) {
  char *sentinel = (char *)"untouched";
  char *out = sentinel;
  CHECK_STATUS(vtf_build_server(NULL, NULL, &out), VTF_ERR_NULL_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "git_ref");
  CHECK_STATUS(vtf_build_server("/x", "8.1.1", NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_server_with("/x", NULL, NULL, &out), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_module_include_dir(NULL, &out), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_module_include_dir("/usr/bin/valkey-server", NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK(vtf_build_module_include_dir("/nonexistent/valkey-server", &out) != VTF_OK);
  CHECK_CONTAINS(vtf_last_error(), "/nonexistent/valkey-server");
  CHECK(out == sentinel);

  CHECK_STATUS(vtf_build_options_set_tls(NULL, true), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_set_sanitizer(NULL, VTF_SANITIZER_ADDRESS), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_add_make_arg(NULL, "MALLOC=libc"), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_set_jobs(NULL, 2), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_set_cache_dir(NULL, "/tmp"), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_set_refresh(NULL, true), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_build_options_set_quiet(NULL, true), VTF_ERR_NULL_ARGUMENT);
  vtf_build_options_free(NULL);

  vtf_build_options *options = vtf_build_options_new();
  CHECK(options != NULL);
  CHECK_OK(vtf_build_options_set_tls(options, true));
  CHECK_OK(vtf_build_options_set_sanitizer(options, VTF_SANITIZER_UNDEFINED));
  CHECK_OK(vtf_build_options_set_sanitizer(options, VTF_SANITIZER_NONE));
  /* Any int can come from C; one that is not a vtf_sanitizer is refused. */
  CHECK_STATUS(vtf_build_options_set_sanitizer(options, (vtf_sanitizer)42), VTF_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "42");
  CHECK_OK(vtf_build_options_add_make_arg(options, "MALLOC=libc"));
  CHECK_STATUS(vtf_build_options_add_make_arg(options, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_OK(vtf_build_options_set_jobs(options, 2));
  CHECK_OK(vtf_build_options_set_cache_dir(options, "/tmp/vtf-c-test-cache"));
  CHECK_OK(vtf_build_options_set_refresh(options, false));
  CHECK_OK(vtf_build_options_set_quiet(options, true));
  vtf_build_options_free(options);
}

static void test_missing_ref(const char *repo) {
  char cache[] = "/tmp/vtf-c-build-XXXXXX";
  CHECK(mkdtemp(cache) != NULL);
  vtf_build_options *options = vtf_build_options_new();
  CHECK_OK(vtf_build_options_set_cache_dir(options, cache));
  CHECK_OK(vtf_build_options_set_quiet(options, true));
  char *sentinel = (char *)"untouched";
  char *out = sentinel;
  CHECK_STATUS(vtf_build_server_with(repo, "no-such-ref-in-valkey", options, &out), VTF_ERR_BUILD);
  CHECK_CONTAINS(vtf_last_error(), "no-such-ref-in-valkey");
  CHECK(out == sentinel);
  vtf_build_options_free(options);
  char command[256];
  snprintf(command, sizeof command, "rm -rf '%s'", cache);
  CHECK(system(command) == 0);
}

/* The shared cache (env VTF_CACHE_DIR) normally has this build already. */
static void test_real_build(const char *repo) {
  double start = check_now_ms();
  char *path = NULL;
  CHECK_OK(vtf_build_server(repo, "8.1.1", &path));
  printf("vtf_build_server(8.1.1) took %.0f ms: %s\n", check_now_ms() - start, path);
  CHECK_MSG(is_file(path) && access(path, X_OK) == 0, "%s is not an executable file", path);

  char *include = NULL;
  CHECK_OK(vtf_build_module_include_dir(path, &include));
  char header[4096];
  snprintf(header, sizeof header, "%s/valkeymodule.h", include);
  CHECK_MSG(is_file(header), "%s is missing", header);
  vtf_string_free(include);

  /* A config that names the version runs that build, whatever PATH holds. */
  CHECK(setenv("VTF_VALKEY_REPO", repo, 1) == 0);
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_version(config, "8.1.1"));
  CHECK_STATUS(vtf_config_set_version(config, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_config_set_version(NULL, "8.1.1"), VTF_ERR_NULL_ARGUMENT);
  vtf_server *server = check_start(config);
  vtf_client *client = check_connect(server);
  vtf_reply *reply = check_cmd(client, "INFO server");
  CHECK_CONTAINS(vtf_reply_string(reply, NULL), "valkey_version:8.1.1");
  vtf_reply_free(reply);
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);
  vtf_string_free(path);
}

static void test_keep_data_and_timeouts(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_keep_data(config, true));
  CHECK_STATUS(vtf_config_set_keep_data(NULL, true), VTF_ERR_NULL_ARGUMENT);
  vtf_server *server = check_start(config);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", vtf_server_dir(server));

  vtf_client *client = check_connect(server);
  CHECK_STATUS(vtf_client_set_timeout_ms(NULL, 100), VTF_ERR_NULL_ARGUMENT);
  CHECK_OK(vtf_client_set_timeout_ms(client, 200));
  vtf_reply *reply = NULL;
  double start = check_now_ms();
  vtf_status status = vtf_client_command_str(client, "DEBUG SLEEP 2", &reply);
  CHECK_MSG(status != VTF_OK, "DEBUG SLEEP 2 answered within a 200 ms timeout");
  CHECK_MSG(check_now_ms() - start < 1900.0, "the timeout did not cut the wait short");
  CHECK(reply == NULL);
  /* 0: wait as long as it takes; the next command reconnects. */
  CHECK_OK(vtf_client_set_timeout_ms(client, 0));
  check_cmd_str(client, "PING", "PONG");
  vtf_client_free(client);

  check_free_server(server);
  CHECK_MSG(is_dir(dir), "keep_data: %s was removed", dir);
  char command[4200];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  CHECK(system(command) == 0);
  vtf_config_free(config);
}

int main(void) {
  test_options_and_null();
  test_keep_data_and_timeouts();
  const char *repo = getenv("VTF_TEST_VALKEY_REPO");
  CHECK_MSG(repo != NULL && *repo != '\0',
            "env VTF_TEST_VALKEY_REPO (a Valkey git repository with tag 8.1.1, from "
            "scripts/fetch-valkey-source.sh) is not set: the build tests need it");
  test_missing_ref(repo);
  test_real_build(repo);
  CHECK_DONE("test_build");
}
