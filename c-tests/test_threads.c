/* Several threads, each with its own server and client, at the same time; the
 * last error is per thread. */
#include "check.h"

#include <pthread.h>

#define THREADS 3

struct job {
  int index;
  uint16_t port;
  int ok;
};

static void *run(void *arg) {
  struct job *job = arg;
  vtf_config *config = vtf_config_new();
  vtf_server *server = NULL;
  if (vtf_server_start(config, &server) != VTF_OK) {
    fprintf(stderr, "thread %d: start: %s\n", job->index, vtf_last_error());
    vtf_config_free(config);
    return NULL;
  }
  job->port = vtf_server_port(server);
  vtf_client *client = NULL;
  int ok = vtf_client_connect(server, &client) == VTF_OK;
  char key[32], value[32];
  snprintf(key, sizeof key, "thread-%d", job->index);
  snprintf(value, sizeof value, "value-%d", job->index);
  for (int i = 0; ok && i < 100; i++) {
    vtf_reply *reply = NULL;
    const char *set[] = {"SET", key, value};
    ok = vtf_client_command(client, 3, set, NULL, &reply) == VTF_OK;
    vtf_reply_free(reply);
    const char *get[] = {"GET", key};
    ok = ok && vtf_client_command(client, 2, get, NULL, &reply) == VTF_OK;
    ok = ok && vtf_reply_string(reply, NULL) != NULL &&
         strcmp(vtf_reply_string(reply, NULL), value) == 0;
    vtf_reply_free(reply);
  }
  /* This thread's failure ... */
  if (ok && vtf_config_add_arg(NULL, "x", "y") != VTF_ERR_NULL_ARGUMENT) ok = 0;
  if (ok && strstr(vtf_last_error(), "NULL") == NULL) ok = 0;
  vtf_client_free(client);
  vtf_server_free(server);
  vtf_config_free(config);
  job->ok = ok;
  return NULL;
}

int main(void) {
  /* A failure on the main thread stays on the main thread. */
  CHECK_STATUS(vtf_config_set_binary(NULL, "x"), VTF_ERR_NULL_ARGUMENT);
  char main_error[1024];
  snprintf(main_error, sizeof main_error, "%s", vtf_last_error());
  CHECK(main_error[0] != '\0');

  pthread_t threads[THREADS];
  struct job jobs[THREADS];
  for (int i = 0; i < THREADS; i++) {
    jobs[i] = (struct job){.index = i, .port = 0, .ok = 0};
    CHECK(pthread_create(&threads[i], NULL, run, &jobs[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  for (int i = 0; i < THREADS; i++) {
    CHECK_MSG(jobs[i].ok, "thread %d failed", i);
    for (int j = 0; j < i; j++) {
      CHECK_MSG(jobs[i].port != jobs[j].port, "threads %d and %d got port %u", i, j,
                (unsigned)jobs[i].port);
    }
  }
  CHECK_STR_EQ(vtf_last_error(), main_error);
  CHECK_DONE("test_threads");
}
