# mk/python.mk - placeholder until its area lands
