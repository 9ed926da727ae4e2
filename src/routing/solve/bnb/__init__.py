"""The parts of the exact branch-and-bound of :mod:`routing.solve.search`, one module each.

Read the driver, :mod:`routing.solve.search`, for the outline of the algorithm. The parts form
one class, each a subclass of the one before (``SearchState`` → ``Propagation`` → ``DayMemo`` →
``TravelMemo`` → ``Bounds`` → ``RootBounds`` → ``Ordering`` → ``Polish`` → the driver's
``_Search``):

- :mod:`.common`: the objective key, the limits and the outcome;
- :mod:`.state`: the partial route, its bookings and the same-day rules;
- :mod:`.propagation`: the lag links to a fixpoint of bounds, forward checking;
- :mod:`.daymemo`: phase 2's sites of each stage by day and pair costs of two stages;
- :mod:`.travel`: the travel of days still to open and of stages joining a visited day;
- :mod:`.bounds`: the lower bound on the objective at a node, where nodes are pruned;
- :mod:`.rootbound`: phase 2's root bound, raised after a better route and day by day;
- :mod:`.order`: the stage to branch on and the order of its candidates;
- :mod:`.polish`: the greedy first route and the descent by whole days.
"""
