// SHA-256 against digests from outside tpc: FIPS 180-2's examples and sha256sum's output.
#include "support/sha256.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "test_util.h"

namespace tpc {
namespace {

using test::TempDir;

TEST_CASE("sha256: the FIPS 180-2 examples") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256: pieces hashed in order give the digest of the whole") {
  Sha256 h;
  h.Update("a");
  h.Update("");
  h.Update("bc");
  CHECK(h.Hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256: a file is hashed in chunks to the digest sha256sum gives") {
  TempDir dir;
  std::string path = dir / "a.bin";
  test::WriteFile(path, std::string(1 << 20, 'a'));
  std::string hex, error;
  int64_t bytes = -1;
  REQUIRE(Sha256File(path, &hex, &bytes, &error));
  // `head -c 1048576 /dev/zero | tr '\0' a | sha256sum`, run once by hand.
  CHECK(hex == "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360");
  CHECK(bytes == 1 << 20);
  CHECK(error.empty());
}

TEST_CASE("sha256: an empty file has the empty digest and zero bytes") {
  TempDir dir;
  std::string path = dir / "empty";
  test::WriteFile(path, "");
  std::string hex, error;
  int64_t bytes = -1;
  REQUIRE(Sha256File(path, &hex, &bytes, &error));
  CHECK(hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bytes == 0);
}

TEST_CASE("sha256: a missing file, a directory and a FIFO are refused with the reason") {
  TempDir dir;
  std::string hex, error;
  int64_t bytes = 0;
  CHECK_FALSE(Sha256File(dir / "missing", &hex, &bytes, &error));
  CHECK(error == "No such file or directory");
  CHECK_FALSE(Sha256File(dir.path, &hex, &bytes, &error));
  CHECK(error == "it is not a regular file");
  // A FIFO with no writer would block open(); it must be refused without opening it.
  std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_FALSE(Sha256File(fifo, &hex, &bytes, &error));
  CHECK(error == "it is not a regular file");
  CHECK(hex.empty());
}

}  // namespace
}  // namespace tpc
