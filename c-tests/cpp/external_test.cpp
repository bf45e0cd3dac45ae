// The C++ mirror of attached servers (vtf::Server::attach, vtf::Cluster::attach,
// is_external) against real servers that this test starts itself.
#include <string>

#include "vtf_gtest.hpp"

namespace {

TEST(External, AnAttachedServerServesCommandsThrowsUnsupportedAndIsLeftRunning) {
  vtf::Server real;  // requires vtf's credential (issue 15): attach with it
  {
    vtf::Server attached = vtf::Server::attach(vtf::Config().password(real.password().value()), "127.0.0.1",
                                               real.port());
    EXPECT_TRUE(attached.is_external());
    EXPECT_FALSE(real.is_external());
    EXPECT_EQ(attached.port(), real.port());
    EXPECT_EQ(attached.pid(), -1);
    attached.connect().command("SET", "cpp-attached", "1");
    try {
      attached.restart();
      FAIL() << "restart of an attached server did not throw";
    } catch (const vtf::Error& e) {
      EXPECT_EQ(e.status(), VTF_ERR_UNSUPPORTED);
      EXPECT_NE(e.message().find("external server"), std::string::npos) << e.what();
    }
    EXPECT_THROW(attached.stop(), vtf::Error);
    EXPECT_THROW(attached.log_tail(), vtf::Error);
  }
  EXPECT_TRUE(real.is_running());
  EXPECT_EQ(real.connect().command("GET", "cpp-attached").str(), "1");
}

TEST(External, AttachWithAPasswordAndTlsFiles) {
  vtf::Server tls_server(vtf::Config().tls(VTF_TLS_MUTUAL));
  vtf::Server attached = vtf::Server::attach(
      vtf::Config()
          .tls_files(tls_server.tls_ca_cert_path(), tls_server.tls_client_cert_path(),
                     tls_server.tls_client_key_path())
          .password(tls_server.password().value()),
      "127.0.0.1", tls_server.port());
  EXPECT_EQ(attached.connect().command("PING").str(), "PONG");

  vtf::Server protected_server(vtf::Config().arg("requirepass", "cpp pw"));
  EXPECT_THROW(vtf::Server::attach(vtf::Config(), "127.0.0.1", protected_server.port()), vtf::Error);
  vtf::Server with_password =
      vtf::Server::attach(vtf::Config().password("cpp pw"), "127.0.0.1", protected_server.port());
  EXPECT_EQ(with_password.connect().command("PING").str(), "PONG");
  // The requirepass argument is the server's password (vtf's SHUTDOWN uses it);
  // stop it through the attached client all the same.
  try {
    with_password.connect().command("SHUTDOWN", "NOSAVE");
  } catch (const vtf::Error&) {
    // The connection closing is the expected answer.
  }
}

TEST(External, AnAttachedClusterHasTheShapeOfTheRealOne) {
  vtf::Cluster real(vtf::Config(), 2, 1);
  vtf::Cluster attached =
      vtf::Cluster::attach(vtf::Config().password(real.node(0).password().value()), "127.0.0.1", real.node(3).port());
  EXPECT_EQ(attached.node_count(), 4u);
  EXPECT_EQ(attached.shards(), 2u);
  EXPECT_EQ(attached.replicas_per_shard(), 1u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(attached.node(i).is_external());
    EXPECT_EQ(attached.node(i).port(), real.node(i).port());
  }
  attached.connect().command("SET", "cpp-cluster", "v");
  attached.reset();
  EXPECT_EQ(real.connect().command("GET", "cpp-cluster").str(), "v");
}

}  // namespace
