package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;

/** Which unit each trainable parameter belongs to; parameters outside every unit form the root. */
final class UnitAssignment {

  private UnitAssignment() {}

  /** The identity of a parameter: its TensorImpl, shared by every handle to it. */
  static long identity(Tensor t) {
    return t.unsafeGetTensorImpl().address();
  }

  /**
   * One group per unit (in unit order, parameters in the unit's order) and, if any parameter is
   * left, a last group with the rest in registration order.
   */
  static List<List<NamedParameter>> assign(List<NamedParameter> params, List<ShardedUnit> units) {
    Map<Long, NamedParameter> byId = new HashMap<>();
    for (NamedParameter p : params) {
      byId.put(identity(p.tensor()), p);
    }
    Map<Long, String> owner = new HashMap<>();
    List<List<NamedParameter>> groups = new ArrayList<>();
    for (ShardedUnit u : units) {
      List<NamedParameter> group = new ArrayList<>();
      for (Tensor t : u.parameters()) {
        long id = identity(t);
        NamedParameter p = byId.get(id);
        if (p == null) {
          if (!t.requires_grad()) {
            continue; // frozen parameters are not the optimizer's
          }
          throw new IllegalArgumentException(
              "sharding unit '"
                  + u.name()
                  + "' holds a parameter of shape "
                  + java.util.Arrays.toString(t.sizes().vec().get())
                  + " that is not among the model's trainable parameters; build the units from"
                  + " the same model instance that is passed to initialize");
        }
        String previous = owner.putIfAbsent(id, u.name());
        if (previous != null) {
          throw new IllegalArgumentException(
              "parameter "
                  + p.name()
                  + " is in sharding units '"
                  + previous
                  + "' and '"
                  + u.name()
                  + "'; each parameter must belong to one unit (leave shared parameters out of"
                  + " the units, in the root unit)");
        }
        group.add(p);
      }
      if (group.isEmpty()) {
        throw new IllegalArgumentException(
            "sharding unit '" + u.name() + "' has no trainable parameters; leave it out");
      }
      groups.add(group);
    }
    List<NamedParameter> root = new ArrayList<>();
    for (NamedParameter p : params) {
      if (!owner.containsKey(identity(p.tensor()))) {
        root.add(p);
      }
    }
    if (!root.isEmpty()) {
      groups.add(root);
    }
    return groups;
  }
}
