package org.zero4j.engine.checkpoint;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.config.CheckpointConfig.TagValidation;
import org.zero4j.zero.comm.Collectives;

/**
 * {@code checkpoint.tag_validation}: compares the tag every rank passed to a save. With Fail a
 * mismatch is an error on every rank; with Warn it is reported on rank 0; with Ignore it is not
 * checked. Every rank then saves under rank 0's tag, so one checkpoint directory results.
 */
final class TagAgreement {

  private TagAgreement() {}

  /** Returns rank 0's tag after checking {@code tag} against every rank's. Collective. */
  static String agree(Collectives comm, String tag, TagValidation mode) {
    int world = comm.worldSize();
    if (world == 1) {
      return tag;
    }
    byte[] bytes = tag.getBytes(StandardCharsets.UTF_8);
    CRC32C crc = new CRC32C();
    crc.update(bytes);
    long[] all = new long[2 * world];
    try (Tensor mine = torch.empty(2).to(torch.ScalarType.Long);
        Tensor out = torch.empty(2L * world).to(torch.ScalarType.Long)) {
      LongPointer p = new LongPointer(mine.data_ptr());
      p.put(0, crc.getValue());
      p.put(1, bytes.length);
      comm.allGather(out, mine).await();
      new LongPointer(out.data_ptr()).get(all);
    }
    int mismatched = 0;
    for (int r = 1; r < world; r++) {
      if (all[2 * r] != all[0] || all[2 * r + 1] != all[1]) {
        mismatched++;
      }
    }
    if (mismatched > 0 && mode != TagValidation.IGNORE) {
      String message =
          mismatched
              + " of "
              + world
              + " ranks passed a checkpoint tag different from rank 0's (this rank: \""
              + tag
              + "\"); pass the same tag on every rank (checkpoint.tag_validation is "
              + mode
              + ")";
      if (mode == TagValidation.FAIL) {
        throw new IllegalArgumentException(message);
      }
      if (comm.rank() == 0) {
        System.err.println("zero4j: warning: " + message + "; saving under rank 0's tag");
      }
    }
    int length = (int) all[1];
    try (Tensor t = torch.zeros(Math.max(1, length)).to(torch.ScalarType.Byte)) {
      BytePointer p = new BytePointer(t.data_ptr());
      if (comm.rank() == 0) {
        p.put(bytes, 0, length);
      }
      comm.broadcast(t, 0).await();
      byte[] root = new byte[length];
      p.get(root, 0, length);
      return new String(root, StandardCharsets.UTF_8);
    }
  }
}
