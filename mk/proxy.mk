# mk/proxy.mk - placeholder until its area lands
