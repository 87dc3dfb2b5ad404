"""zoolab.rl"""
