/* Clients: binary-safe commands, command lines with quotes, error replies and
 * every reply type, RESP2 and RESP3. */
#include "check.h"

static void expect_string(const vtf_reply *reply, const char *want, size_t want_len,
                          vtf_reply_type type) {
  CHECK(reply != NULL);
  CHECK_INT_EQ(vtf_reply_get_type(reply), type);
  size_t len = 12345;
  const char *got = vtf_reply_string(reply, &len);
  CHECK(got != NULL);
  CHECK_INT_EQ(len, want_len);
  CHECK(memcmp(got, want, want_len) == 0);
  CHECK_INT_EQ(got[len], '\0'); /* NUL-terminated as well as counted */
}

static void test_binary_safe(vtf_client *client) {
  /* A key and a value with NUL bytes, high bytes and no terminator of their own. */
  const char key[] = {'k', '\0', 'e', 'y'};
  const char value[] = {'a', '\0', 'b', '\0', '\xff', '\xfe', 'z'};
  const char *set_argv[] = {"SET", key, value};
  const size_t set_len[] = {3, sizeof key, sizeof value};
  vtf_reply *reply = NULL;
  CHECK_OK(vtf_client_command(client, 3, set_argv, set_len, &reply));
  expect_string(reply, "OK", 2, VTF_REPLY_STATUS);
  vtf_reply_free(reply);

  const char *get_argv[] = {"GET", key};
  const size_t get_len[] = {3, sizeof key};
  CHECK_OK(vtf_client_command(client, 2, get_argv, get_len, &reply));
  expect_string(reply, value, sizeof value, VTF_REPLY_STRING);
  vtf_reply_free(reply);

  /* Only the bytes up to the NUL were the key "k": it does not exist. */
  CHECK_OK(vtf_client_command(client, 2, (const char *[]){"EXISTS", "k"}, NULL, &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_INTEGER);
  CHECK_INT_EQ(vtf_reply_integer(reply), 0);
  vtf_reply_free(reply);
  CHECK_OK(vtf_client_command(client, 2, (const char *[]){"STRLEN", key},
                              (const size_t[]){6, sizeof key}, &reply));
  CHECK_INT_EQ(vtf_reply_integer(reply), (long long)sizeof value);
  vtf_reply_free(reply);

  /* argvlen lets an argument be a prefix of a longer buffer. */
  CHECK_OK(vtf_client_command(client, 3, (const char *[]){"SETXX", "prefix-key", "value-long"},
                              (const size_t[]){3, 6, 5}, &reply));
  expect_string(reply, "OK", 2, VTF_REPLY_STATUS);
  vtf_reply_free(reply);
  CHECK_OK(vtf_client_command_str(client, "GET prefix", &reply));
  expect_string(reply, "value", 5, VTF_REPLY_STRING);
  vtf_reply_free(reply);

  /* An empty argument is an argument. */
  CHECK_OK(vtf_client_command(client, 3, (const char *[]){"SET", "empty", ""}, NULL, &reply));
  vtf_reply_free(reply);
  CHECK_OK(vtf_client_command(client, 2, (const char *[]){"GET", "empty"}, NULL, &reply));
  expect_string(reply, "", 0, VTF_REPLY_STRING);
  vtf_reply_free(reply);
}

static void test_command_lines(vtf_client *client) {
  check_cmd_str(client, "SET k \"a b\"", "OK");
  check_cmd_str(client, "GET k", "a b");
  check_cmd_str(client, "  SET   spaced    value  ", "OK");
  check_cmd_str(client, "GET spaced", "value");
  check_cmd_str(client, "SET quoted \"\"", "OK");
  check_cmd_int(client, "STRLEN quoted", 0);
  /* Whitespace inside quotes is kept as it is, tabs too. */
  check_cmd_str(client, "SET q2 \"x  y\tz\"", "OK");
  check_cmd_str(client, "GET q2", "x  y\tz");
  check_cmd_str(client, "SET \"key with spaces\" v", "OK");
  check_cmd_str(client, "GET \"key with spaces\"", "v");
}

static void test_errors(vtf_client *client) {
  vtf_reply *reply = NULL;
  CHECK_OK(vtf_client_command_str(client, "NOSUCHCOMMAND", &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ERROR);
  size_t len = 0;
  const char *message = vtf_reply_string(reply, &len);
  CHECK(message != NULL);
  CHECK_MSG(strncmp(message, "ERR", 3) == 0, "error reply \"%s\"", message);
  CHECK_CONTAINS(message, "NOSUCHCOMMAND");
  CHECK_INT_EQ(strlen(message), len);
  vtf_reply_free(reply);

  /* A wrong-type error keeps its own prefix. */
  check_cmd_str(client, "SET str x", "OK");
  CHECK_OK(vtf_client_command_str(client, "LPUSH str y", &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ERROR);
  CHECK_MSG(strncmp(vtf_reply_string(reply, NULL), "WRONGTYPE", 9) == 0, "error reply \"%s\"",
            vtf_reply_string(reply, NULL));
  vtf_reply_free(reply);

  /* An error reply is not a failure: the client goes on. */
  check_cmd_str(client, "PING", "PONG");
}

static void test_resp2_types(vtf_client *client) {
  vtf_reply *reply = check_cmd(client, "INCR counter");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_INTEGER);
  CHECK_INT_EQ(vtf_reply_integer(reply), 1);
  CHECK(vtf_reply_string(reply, NULL) == NULL); /* not a string type */
  CHECK_INT_EQ(vtf_reply_len(reply), 0);         /* not an aggregate */
  CHECK(vtf_reply_element(reply, 0) == NULL);
  vtf_reply_free(reply);
  reply = check_cmd(client, "INCRBY counter -43");
  CHECK_INT_EQ(vtf_reply_integer(reply), -42);
  vtf_reply_free(reply);

  reply = check_cmd(client, "RPUSH list one two three");
  CHECK_INT_EQ(vtf_reply_integer(reply), 3);
  vtf_reply_free(reply);
  reply = check_cmd(client, "LRANGE list 0 -1");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ARRAY);
  CHECK_INT_EQ(vtf_reply_len(reply), 3);
  expect_string(vtf_reply_element(reply, 0), "one", 3, VTF_REPLY_STRING);
  expect_string(vtf_reply_element(reply, 1), "two", 3, VTF_REPLY_STRING);
  expect_string(vtf_reply_element(reply, 2), "three", 5, VTF_REPLY_STRING);
  CHECK(vtf_reply_element(reply, 3) == NULL);
  CHECK(vtf_reply_element(reply, (size_t)-1) == NULL);
  vtf_reply_free(reply);

  reply = check_cmd(client, "LRANGE nolist 0 -1");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ARRAY);
  CHECK_INT_EQ(vtf_reply_len(reply), 0);
  vtf_reply_free(reply);

  reply = check_cmd(client, "GET missing-key");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_NIL);
  CHECK(vtf_reply_string(reply, NULL) == NULL);
  vtf_reply_free(reply);

  reply = check_cmd(client, "SET status-key v");
  expect_string(reply, "OK", 2, VTF_REPLY_STATUS);
  vtf_reply_free(reply);

  /* Nested arrays: an element of an element. */
  reply = check_cmd(client, "EVAL \"return {1, {'a', {2}}}\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ARRAY);
  CHECK_INT_EQ(vtf_reply_len(reply), 2);
  CHECK_INT_EQ(vtf_reply_integer(vtf_reply_element(reply, 0)), 1);
  const vtf_reply *inner = vtf_reply_element(reply, 1);
  CHECK_INT_EQ(vtf_reply_get_type(inner), VTF_REPLY_ARRAY);
  expect_string(vtf_reply_element(inner, 0), "a", 1, VTF_REPLY_STRING);
  CHECK_INT_EQ(vtf_reply_integer(vtf_reply_element(vtf_reply_element(inner, 1), 0)), 2);
  vtf_reply_free(reply);
}

static void test_resp3_types(vtf_client *client) {
  vtf_reply *reply = check_cmd(client, "HELLO 3");
  CHECK_MSG(vtf_reply_get_type(reply) == VTF_REPLY_MAP, "HELLO 3 gave type %d",
            (int)vtf_reply_get_type(reply));
  CHECK(vtf_reply_len(reply) >= 2 && vtf_reply_len(reply) % 2 == 0);
  expect_string(vtf_reply_element(reply, 0), "server", 6, VTF_REPLY_STRING);
  vtf_reply_free(reply);

  check_cmd_int(client, "DEL h3", 0);
  reply = check_cmd(client, "HSET h3 f1 v1 f2 v2");
  CHECK_INT_EQ(vtf_reply_integer(reply), 2);
  vtf_reply_free(reply);
  reply = check_cmd(client, "HGETALL h3");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_MAP);
  CHECK_INT_EQ(vtf_reply_len(reply), 4); /* 2 * pairs */
  for (size_t i = 0; i < 4; i += 2) {
    size_t klen = 0, vlen = 0;
    const char *k = vtf_reply_string(vtf_reply_element(reply, i), &klen);
    const char *v = vtf_reply_string(vtf_reply_element(reply, i + 1), &vlen);
    CHECK(k != NULL && v != NULL && klen == 2 && vlen == 2);
    CHECK_MSG(k[1] == v[1] && k[0] == 'f' && v[0] == 'v', "pair %s => %s", k, v);
  }
  CHECK(vtf_reply_element(reply, 4) == NULL);
  vtf_reply_free(reply);

  reply = check_cmd(client, "ZADD z 1.5 member");
  vtf_reply_free(reply);
  reply = check_cmd(client, "ZSCORE z member");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_DOUBLE);
  CHECK(vtf_reply_double(reply) == 1.5);
  vtf_reply_free(reply);

  reply = check_cmd(client, "SADD s a b c");
  vtf_reply_free(reply);
  reply = check_cmd(client, "SMEMBERS s");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_SET);
  CHECK_INT_EQ(vtf_reply_len(reply), 3);
  vtf_reply_free(reply);

  reply = check_cmd(client, "GET missing-key");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_NIL);
  vtf_reply_free(reply);

  /* Types only scripts return under RESP3. */
  reply = check_cmd(client, "EVAL \"redis.setresp(3); return true\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_BOOLEAN);
  CHECK_INT_EQ(vtf_reply_integer(reply), 1);
  vtf_reply_free(reply);
  reply = check_cmd(client, "EVAL \"redis.setresp(3); return false\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_BOOLEAN);
  CHECK_INT_EQ(vtf_reply_integer(reply), 0);
  vtf_reply_free(reply);
  reply = check_cmd(client,
                    "EVAL \"redis.setresp(3); return {big_number='123456789012345678901234567890'}\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_BIG_NUMBER);
  expect_string(reply, "123456789012345678901234567890", 30, VTF_REPLY_BIG_NUMBER);
  vtf_reply_free(reply);
  reply = check_cmd(client, "EVAL \"redis.setresp(3); return {double=2.25}\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_DOUBLE);
  CHECK(vtf_reply_double(reply) == 2.25);
  vtf_reply_free(reply);
  reply = check_cmd(client,
                    "EVAL \"redis.setresp(3); return {verbatim_string={format='txt', string='hello'}}\" 0");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_VERBATIM);
  size_t len = 0;
  const char *text = vtf_reply_string(reply, &len);
  CHECK(text != NULL);
  CHECK_CONTAINS(text, "hello");
  vtf_reply_free(reply);

  /* Errors stay errors under RESP3. */
  reply = check_cmd(client, "NOSUCHCOMMAND");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ERROR);
  vtf_reply_free(reply);
  check_cmd_str(client, "PING", "PONG");
}

int main(void) {
  vtf_server *server = check_start(NULL);
  vtf_client *client = check_connect(server);
  test_binary_safe(client);
  test_command_lines(client);
  test_errors(client);
  test_resp2_types(client);

  /* A second client on its own connection, switched to RESP3. */
  vtf_client *resp3 = check_connect(server);
  test_resp3_types(resp3);
  vtf_client_free(resp3);

  /* The first client is still RESP2: HGETALL is a flat array there. */
  vtf_reply *reply = check_cmd(client, "HGETALL h3");
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ARRAY);
  CHECK_INT_EQ(vtf_reply_len(reply), 4);
  vtf_reply_free(reply);

  vtf_client_free(client);
  check_free_server(server);
  CHECK_DONE("test_client");
}
