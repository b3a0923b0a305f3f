package org.zero4j.engine.checkpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.PartitionedState;

/**
 * Writes the model's working-precision weights as one safetensors file on rank 0, streaming: the
 * header comes from the parameters' names and shapes alone, and each parameter's bytes are written
 * while {@link PartitionedState#streamParameters} holds it. At ZeRO stage 3 that gathers one
 * sharding unit at a time (a collective every rank joins), so no rank ever holds the whole model;
 * below stage 3 rank 0 writes the parameters it already holds.
 *
 * <p>Tensors appear in the file in {@link PartitionedState#streamOrder()} (unit by unit at stage
 * 3); readers find them by name.
 */
final class ModelStates {

  private static final int SLICE = 8 << 20;

  private ModelStates() {}

  /**
   * Writes {@code file} durably on rank 0 and returns what was written there (null on the other
   * ranks). Every rank calls it.
   */
  static SafetensorsWriter.Written write(
      Path file, PartitionedState state, TensorDtype dtype, int rank, Map<String, String> meta) {
    List<NamedParameter> params = state.parameters();
    List<TensorEntry> entries = new ArrayList<>();
    for (int i : state.streamOrder()) {
      entries.add(TensorEntry.of(params.get(i).name(), dtype, state.shape(i)));
    }
    Map<String, String> metadata = new LinkedHashMap<>(meta);
    metadata.putIfAbsent("format", "pt");
    if (rank != 0) {
      state.streamParameters(0, (t, i) -> {});
      return null;
    }
    try (SafetensorsWriter w = SafetensorsWriter.create(file, entries, metadata, true)) {
      state.streamParameters(0, (t, i) -> slices(t, t.nbytes(), w));
      return w.commit();
    }
  }

  static void slices(Tensor t, long length, SafetensorsWriter w) {
    for (long done = 0; done < length; ) {
      int n = (int) Math.min(SLICE, length - done);
      w.write(NativeBytes.window(t, done, n));
      done += n;
    }
  }
}
