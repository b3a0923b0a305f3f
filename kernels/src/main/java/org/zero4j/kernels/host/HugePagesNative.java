package org.zero4j.kernels.host;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;

/** JNI binding of {@code src/main/cpp/zero4j/huge_pages.h}; see {@link HugePages}. */
@Platform(value = "linux-x86_64", include = "zero4j/huge_pages.h")
@Namespace("zero4j")
final class HugePagesNative {

  static {
    Loader.load();
  }

  private HugePagesNative() {}

  @Name("advise_huge_pages")
  static native int adviseHugePages(long address, long length);
}
