"""zoolab.hub"""
