package broker

import (
	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/storage"
)

// Temporary: the follower fetcher lands with the storage replica API.
type fetchers struct{}

func newFetchers(*Broker) *fetchers                              { return &fetchers{} }
func (fs *fetchers) follow(*partition, metastore.PartitionState) {}
func (fs *fetchers) drop(storage.TopicPartition)                 {}
