/* Command round trips through the C ABI (vtf_client_command) against hiredis
 * (redisCommandArgv), on one server, in one process, alternating round by round.
 * Usage: roundtrip ROUNDS OPS. Prints "sample <ping|set100> <vtf|hiredis> <ops/s>".
 * Exits non-zero on any error. Built by scripts/bench.sh. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vtf.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_vtf(const char *what) {
  fprintf(stderr, "roundtrip: %s: %s\n", what, vtf_last_error());
  exit(1);
}

static double run_vtf(vtf_client *c, size_t argc, const char **argv, const size_t *lens, int ops) {
  double t = now_s();
  for (int i = 0; i < ops; i++) {
    vtf_reply *r = NULL;
    if (vtf_client_command(c, argc, argv, lens, &r) != VTF_OK) die_vtf("vtf_client_command");
    vtf_reply_type type = vtf_reply_get_type(r);
    if (type != VTF_REPLY_STATUS) {
      fprintf(stderr, "roundtrip: vtf reply type %d\n", (int)type);
      exit(1);
    }
    vtf_reply_free(r);
  }
  return ops / (now_s() - t);
}

static double run_hiredis(redisContext *c, int argc, const char **argv, const size_t *lens, int ops) {
  double t = now_s();
  for (int i = 0; i < ops; i++) {
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
      fprintf(stderr, "roundtrip: hiredis: %s\n", r ? "unexpected reply" : c->errstr);
      exit(1);
    }
    freeReplyObject(r);
  }
  return ops / (now_s() - t);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ROUNDS OPS\n", argv[0]);
    return 2;
  }
  int rounds = atoi(argv[1]), ops = atoi(argv[2]);
  vtf_config *config = vtf_config_new();
  vtf_server *server = NULL;
  vtf_client *vc = NULL;
  if (config == NULL) die_vtf("vtf_config_new");
  if (vtf_server_start(config, &server) != VTF_OK) die_vtf("vtf_server_start");
  if (vtf_client_connect(server, &vc) != VTF_OK) die_vtf("vtf_client_connect");
  redisContext *hc = redisConnect(vtf_server_host(server), vtf_server_port(server));
  if (hc == NULL || hc->err) {
    fprintf(stderr, "roundtrip: redisConnect: %s\n", hc ? hc->errstr : "out of memory");
    return 1;
  }
  /* The server requires vtf's credential (issue 15); hiredis sends AUTH once,
   * as the redis crate does in its connection setup. */
  const char *password = vtf_server_password(server);
  if (password != NULL) {
    redisReply *auth = redisCommand(hc, "AUTH %s", password);
    if (auth == NULL || auth->type == REDIS_REPLY_ERROR) {
      fprintf(stderr, "roundtrip: AUTH: %s\n", auth ? auth->str : hc->errstr);
      return 1;
    }
    freeReplyObject(auth);
  }

  char value[100];
  memset(value, 'x', sizeof value);
  const char *ping[] = {"PING"};
  const size_t ping_len[] = {4};
  const char *set[] = {"SET", "bench:key", value};
  const size_t set_len[] = {3, 9, sizeof value};
  struct {
    const char *name;
    size_t argc;
    const char **argv;
    const size_t *lens;
  } cases[] = {{"ping", 1, ping, ping_len}, {"set100", 3, set, set_len}};

  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    /* Warm-up, then ABAB. */
    run_vtf(vc, cases[k].argc, cases[k].argv, cases[k].lens, ops / 10);
    run_hiredis(hc, (int)cases[k].argc, cases[k].argv, cases[k].lens, ops / 10);
    for (int r = 0; r < rounds; r++) {
      printf("sample %s vtf %.0f\n", cases[k].name,
             run_vtf(vc, cases[k].argc, cases[k].argv, cases[k].lens, ops));
      printf("sample %s hiredis %.0f\n", cases[k].name,
             run_hiredis(hc, (int)cases[k].argc, cases[k].argv, cases[k].lens, ops));
      fflush(stdout);
    }
  }

  redisFree(hc);
  vtf_client_free(vc);
  vtf_server_free(server);
  vtf_config_free(config);
  return 0;
}
