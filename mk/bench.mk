# mk/bench.mk - placeholder until its area lands
