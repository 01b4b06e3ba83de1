package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

// apis is the one handler table: it drives both dispatch and the
// ApiVersions answer. Floors follow KIP-896 (Kafka 2.1) except where
// clients still in use send older versions (kafka-python: Metadata v0/v1,
// ApiVersions v0). Each handler file's opening comment says what its
// versions mean.
func (b *Broker) apis() []protocol.API {
	return []protocol.API{
		{Key: kmsg.Produce, Min: 3, Max: 13, Handle: b.handleProduce},
		{Key: kmsg.Fetch, Min: 4, Max: 18, Handle: b.handleFetch},
		{Key: kmsg.ListOffsets, Min: 1, Max: 11, Handle: answerNow(b.handleListOffsets)},
		{Key: kmsg.Metadata, Min: 0, Max: 13, Handle: answerNow(b.handleMetadata)},
		{Key: kmsg.ApiVersions, Min: 0, Max: 4, Handle: answerNow(b.handleApiVersions)},
		{Key: kmsg.CreateTopics, Min: 2, Max: 7, Handle: answerNow(b.handleCreateTopics)},
		{Key: kmsg.DeleteTopics, Min: 1, Max: 6, Handle: answerNow(b.handleDeleteTopics)},
		{Key: kmsg.DeleteRecords, Min: 0, Max: 2, Handle: answerNow(b.handleDeleteRecords)},
		{Key: kmsg.InitProducerID, Min: 0, Max: 5, Handle: answerNow(b.handleInitProducerID)},
		{Key: kmsg.DescribeConfigs, Min: 1, Max: 4, Handle: answerNow(b.handleDescribeConfigs)},
		{Key: kmsg.AlterConfigs, Min: 0, Max: 2, Handle: answerNow(b.handleAlterConfigs)},
		{Key: kmsg.CreatePartitions, Min: 0, Max: 3, Handle: answerNow(b.handleCreatePartitions)},
		{Key: kmsg.IncrementalAlterConfigs, Min: 0, Max: 1, Handle: answerNow(b.handleIncrementalAlterConfigs)},
		{Key: kmsg.DescribeCluster, Min: 0, Max: 2, Handle: answerNow(b.handleDescribeCluster)},
		{Key: kmsg.AlterPartitionAssignments, Min: 0, Max: 1, Handle: answerNow(b.handleAlterPartitionAssignments)},
		{Key: kmsg.ListPartitionReassignments, Min: 0, Max: 0, Handle: answerNow(b.handleListPartitionReassignments)},
		{Key: kmsg.ElectLeaders, Min: 0, Max: 2, Handle: answerNow(b.handleElectLeaders)},
		{Key: kmsg.OffsetForLeaderEpoch, Min: 2, Max: 4, Handle: answerNow(b.handleOffsetForLeaderEpoch)},
		{Key: kmsg.FindCoordinator, Min: 0, Max: 6, Handle: answerNow(b.handleFindCoordinator)},
		{Key: kmsg.JoinGroup, Min: 0, Max: 9, Handle: b.handleJoinGroup},
		{Key: kmsg.SyncGroup, Min: 0, Max: 5, Handle: b.handleSyncGroup},
		{Key: kmsg.Heartbeat, Min: 0, Max: 4, Handle: answerNow(b.handleHeartbeat)},
		{Key: kmsg.LeaveGroup, Min: 0, Max: 5, Handle: answerNow(b.handleLeaveGroup)},
		{Key: kmsg.OffsetCommit, Min: 0, Max: 10, Handle: answerNow(b.handleOffsetCommit)},
		{Key: kmsg.OffsetFetch, Min: 0, Max: 10, Handle: answerNow(b.handleOffsetFetch)},
		{Key: kmsg.ListGroups, Min: 0, Max: 5, Handle: answerNow(b.handleListGroups)},
		{Key: kmsg.DescribeGroups, Min: 0, Max: 6, Handle: answerNow(b.handleDescribeGroups)},
		{Key: kmsg.DeleteGroups, Min: 0, Max: 3, Handle: answerNow(b.handleDeleteGroups)},
		{Key: kmsg.OffsetDelete, Min: 0, Max: 0, Handle: answerNow(b.handleOffsetDelete)},
		{Key: kmsg.ConsumerGroupHeartbeat, Min: 0, Max: 1, Handle: answerNow(b.handleConsumerGroupHeartbeat)},
		{Key: kmsg.ConsumerGroupDescribe, Min: 0, Max: 1, Handle: answerNow(b.handleConsumerGroupDescribe)},
		{Key: kmsg.AddPartitionsToTxn, Min: 0, Max: 5, Handle: answerNow(b.handleAddPartitionsToTxn)},
		{Key: kmsg.AddOffsetsToTxn, Min: 0, Max: 4, Handle: answerNow(b.handleAddOffsetsToTxn)},
		{Key: kmsg.EndTxn, Min: 0, Max: 5, Handle: answerNow(b.handleEndTxn)},
		{Key: kmsg.WriteTxnMarkers, Min: 0, Max: 1, Handle: b.handleWriteTxnMarkers},
		{Key: kmsg.TxnOffsetCommit, Min: 0, Max: 5, Handle: answerNow(b.handleTxnOffsetCommit)},
		{Key: kmsg.DescribeProducers, Min: 0, Max: 0, Handle: answerNow(b.handleDescribeProducers)},
		{Key: kmsg.DescribeTransactions, Min: 0, Max: 0, Handle: answerNow(b.handleDescribeTransactions)},
		{Key: kmsg.ListTransactions, Min: 0, Max: 2, Handle: answerNow(b.handleListTransactions)},
		{Key: kmsg.AlterReplicaLogDirs, Min: 0, Max: 2, Handle: answerNow(b.handleAlterReplicaLogDirs)},
		{Key: kmsg.DescribeLogDirs, Min: 0, Max: 4, Handle: answerNow(b.handleDescribeLogDirs)},
		{Key: kmsg.SASLHandshake, Min: 0, Max: 1, Handle: answerNow(b.handleSaslHandshake)},
		{Key: kmsg.SASLAuthenticate, Min: 0, Max: 2, Handle: answerNow(b.handleSaslAuthenticate)},
		{Key: kmsg.DescribeClientQuotas, Min: 0, Max: 1, Handle: answerNow(b.handleDescribeClientQuotas)},
		{Key: kmsg.DescribeUserSCRAMCredentials, Min: 0, Max: 0, Handle: answerNow(b.handleDescribeUserScramCredentials)},
		{Key: kmsg.AlterUserSCRAMCredentials, Min: 0, Max: 0, Handle: answerNow(b.handleAlterUserScramCredentials)},
	}
}

// answerNow adapts a handler that answers before returning.
func answerNow(fn func(ctx context.Context, r *protocol.Request) kmsg.Response) protocol.HandlerFunc {
	return func(ctx context.Context, r *protocol.Request) { r.Respond(fn(ctx, r)) }
}
