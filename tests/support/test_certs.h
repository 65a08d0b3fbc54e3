// A private CA and a server certificate signed by it, made at test time with
// the openssl command-line tool, for the HTTPS tests.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace duende::testing {

struct TestCerts {
  std::string ca;           // the CA certificate (what clients trust)
  std::string server_cert;  // valid for `hosts`, signed by the CA
  std::string server_key;
  std::string other_ca;  // a CA that signed nothing here
};

// Writes the files into `dir`. `alt_names` is an openssl subjectAltName
// value such as "DNS:localhost,IP:127.0.0.1". Returns false (and the test
// should fail) when openssl fails; its output is in dir/openssl.log.
inline bool MakeTestCerts(const std::string& dir, const std::string& alt_names, TestCerts& out) {
  out = {dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/other-ca.pem"};
  std::ofstream(dir + "/server.ext") << "subjectAltName=" << alt_names
                                     << "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
  // P-256 keys: generated in milliseconds, unlike RSA.
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string log = " >>" + dir + "/openssl.log 2>&1";
  const std::string ca_ext = " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign";
  const std::string cmds[] = {
      "openssl req -x509" + key + " -keyout " + dir + "/ca.key -out " + out.ca + " -days 2 -subj /CN=Duende-Test-CA" +
          ca_ext + log,
      "openssl req -x509" + key + " -keyout " + dir + "/other-ca.key -out " + out.other_ca +
          " -days 2 -subj /CN=Other-Test-CA" + ca_ext + log,
      "openssl req" + key + " -keyout " + out.server_key + " -out " + dir + "/server.csr -subj /CN=duende-test" + log,
      "openssl x509 -req -in " + dir + "/server.csr -CA " + out.ca + " -CAkey " + dir +
          "/ca.key -CAcreateserial -days 2 -out " + out.server_cert + " -extfile " + dir + "/server.ext" + log,
  };
  for (const auto& cmd : cmds)
    if (std::system(cmd.c_str()) != 0) return false;
  return true;
}

}  // namespace duende::testing
