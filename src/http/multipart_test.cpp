#include "http/multipart.h"

#include <gtest/gtest.h>

#include <random>

namespace tokengrid::http {
namespace {

constexpr const char* kType = "multipart/form-data; boundary=----formdata-undici-0123456789";

// What the openai npm client (undici's FormData) sends for files.create.
std::string upload_body(const std::string& content) {
  return "------formdata-undici-0123456789\r\n"
         "Content-Disposition: form-data; name=\"purpose\"\r\n\r\n"
         "batch\r\n"
         "------formdata-undici-0123456789\r\n"
         "Content-Disposition: form-data; name=\"file\"; filename=\"requests.jsonl\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         content +
         "\r\n------formdata-undici-0123456789--\r\n";
}

std::string error_of(std::string_view type, std::string_view body, MultipartLimits limits = {}) {
  auto parts = parse_multipart(type, body, limits);
  return parts.is_ok() ? std::string("ok") : parts.status().message();
}

TEST(Multipart, ReadsTheOpenAIClientsUpload) {
  const std::string content = "{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n";
  const std::string body = upload_body(content);
  auto parts = parse_multipart(kType, body);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "purpose");
  EXPECT_FALSE((*parts)[0].filename.has_value());
  EXPECT_EQ((*parts)[0].data, "batch");
  EXPECT_EQ((*parts)[1].name, "file");
  EXPECT_EQ((*parts)[1].filename, "requests.jsonl");
  EXPECT_EQ((*parts)[1].content_type, "application/octet-stream");
  EXPECT_EQ((*parts)[1].data, content);
}

TEST(Multipart, KeepsContentBytesThatLookLikeSyntax) {
  // CRLFs, dashes and a near-boundary inside the content are data.
  const std::string content = std::string("a\r\n\r\n--\r\n------formdata-undici-012345678\r\n\0\xff", 43);
  // The parts view into the body, so the body must outlive them.
  const std::string body = upload_body(content);
  auto parts = parse_multipart(kType, body);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  EXPECT_EQ((*parts)[1].data, content);
  const std::string empty_body = upload_body("");
  auto empty = parse_multipart(kType, empty_body);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ((*empty)[1].data, "");
}

TEST(Multipart, QuotedBoundaryPreambleEpilogueAndPadding) {
  const std::string body =
      "this preamble is ignored\r\n--b:1\t \r\n"
      "content-disposition: FORM-DATA; name=x\r\n\r\n1\r\n--b:1--\r\nand this epilogue too";
  auto parts = parse_multipart("Multipart/Form-Data; charset=utf-8; boundary=\"b:1\"", body);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "x");
  EXPECT_EQ((*parts)[0].data, "1");
}

TEST(Multipart, FilenamesLoseTheirDirectoryAndExtendedNamesWin) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\\\tmp\\\\x.jsonl\"\r\n\r\nA\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"g\"; filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC.jsonl\r\n\r\nB\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"h\"; filename=\"../../etc/passwd\"\r\n\r\nC\r\n--b--";
  auto parts = parse_multipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  EXPECT_EQ((*parts)[0].filename, "x.jsonl");
  EXPECT_EQ((*parts)[1].filename, "\xE2\x82\xAC.jsonl");
  EXPECT_EQ((*parts)[2].filename, "passwd");
}

TEST(Multipart, RefusesBadContentTypes) {
  EXPECT_NE(error_of("application/json", "{}").find("must be multipart/form-data"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data", "").find("no boundary"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; charset=x", "").find("no boundary"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary=", "").find("1 to 70"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary=" + std::string(71, 'a'), "").find("1 to 70"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary=\"a\rb\"", "").find("RFC 2046"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary=\"trailing \"", "").find("RFC 2046"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary=\"unclosed", "").find("closing quote"), std::string::npos);
  EXPECT_NE(error_of("multipart/form-data; boundary", "").find("without '='"), std::string::npos);
}

TEST(Multipart, RefusesMalformedBodies) {
  const std::string t = "multipart/form-data; boundary=b";
  EXPECT_NE(error_of(t, "").find("no boundary line"), std::string::npos);
  EXPECT_NE(error_of(t, "--bX\r\n").find("text after it"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata").find("cut short"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a\r\n").find("blank line"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nno colon here\r\n\r\nx\r\n--b--").find("no 'Name:'"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--").find("no Content-Disposition"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\n\r\nx\r\n--b--").find("no Content-Disposition"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--").find("must be form-data"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--b--").find("no name"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--").find("no name"), std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n"
                        "x\r\n--b--")
                .find("two Content-Disposition"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a; filename*=latin1''x\r\n\r\nx\r\n--b--")
                .find("UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%G0\r\n\r\nx\r\n--b--")
                .find("two hex digits"),
            std::string::npos);
  EXPECT_NE(error_of(t, "--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%4\r\n\r\nx\r\n--b--")
                .find("two hex digits"),
            std::string::npos);
}

TEST(Multipart, EnforcesItsLimits) {
  const std::string t = "multipart/form-data; boundary=b";
  std::string many;
  for (int i = 0; i < 5; ++i) many += "--b\r\nContent-Disposition: form-data; name=p\r\n\r\nx\r\n";
  many += "--b--";
  EXPECT_EQ(error_of(t, many, {5, 1024}), "ok");
  EXPECT_NE(error_of(t, many, {4, 1024}).find("more than 4 parts"), std::string::npos);
  const std::string big_header = "--b\r\nContent-Disposition: form-data; name=p\r\nX-Pad: " + std::string(2000, 'x') +
                                 "\r\n\r\nx\r\n--b--";
  EXPECT_NE(error_of(t, big_header, {4, 1024}).find("over 1024 bytes"), std::string::npos);
  EXPECT_EQ(error_of(t, big_header, {4, 4096}), "ok");
}

TEST(Multipart, EveryTruncationIsAnErrorAndNoneCrashes) {
  const std::string body = upload_body("{\"a\":1}\n");
  const size_t complete = body.size() - 2;  // the final CRLF is epilogue
  for (size_t n = 0; n < body.size(); ++n) {
    auto parts = parse_multipart(kType, std::string_view(body).substr(0, n));
    if (n >= complete) {
      EXPECT_TRUE(parts.is_ok()) << n;
    } else {
      EXPECT_FALSE(parts.is_ok()) << "a body cut at " << n << " of " << body.size() << " bytes was accepted";
    }
  }
}

TEST(Multipart, MutatedBodiesNeverCrashOrReadOutside) {
  const std::string body = upload_body("{\"custom_id\":\"a\",\"body\":{}}\n");
  std::mt19937 rng(7);
  const char alphabet[] = {'\r', '\n', '-', '"', ';', '=', ':', '\\', '%', ' ', 'x', '\0'};
  for (int round = 0; round < 20000; ++round) {
    std::string m = body;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = alphabet[rng() % sizeof alphabet]; break;
        case 1: m.erase(at, 1 + rng() % 8); break;
        default: m.insert(at, 1, alphabet[rng() % sizeof alphabet]); break;
      }
      if (m.empty()) m = "-";
    }
    auto parts = parse_multipart(kType, m);
    if (!parts.is_ok()) continue;
    for (const MultipartPart& p : *parts) {
      ASSERT_GE(p.data.data(), m.data());
      ASSERT_LE(p.data.data() + p.data.size(), m.data() + m.size());
    }
  }
}

}  // namespace
}  // namespace tokengrid::http

namespace tokengrid::http {
namespace {

TEST(MultipartWriter, WhatItWritesReadsBackAndNoValueEndsItsHeader) {
  const std::string content = "line 1\r\nline 2\n";
  const std::string body = encode_multipart(
      {{"purpose", std::nullopt, "", "batch"}, {"file", "we\"ird\r\nname.jsonl", "application/jsonl", content}}, "b0und");
  auto parts = parse_multipart("multipart/form-data; boundary=b0und", body);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "purpose");
  EXPECT_FALSE((*parts)[0].filename);
  EXPECT_EQ((*parts)[0].data, "batch");
  EXPECT_EQ((*parts)[1].filename, "we%22ird%0D%0Aname.jsonl");
  EXPECT_EQ((*parts)[1].content_type, "application/jsonl");
  EXPECT_EQ((*parts)[1].data, content);
}

}  // namespace
}  // namespace tokengrid::http
