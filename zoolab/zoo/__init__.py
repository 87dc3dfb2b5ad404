"""zoolab.zoo"""
